from reelcloud.encoding.ladder import Rung
from reelcloud.encoding.pertitle import Point, choose_ladder, convex_hull


def p(height, kbps, vmaf):
    return Point(Rung(height, kbps), vmaf)


def test_hull_drops_points_that_cost_more_and_look_no_better():
    points = [p(240, 100, 60), p(240, 200, 70), p(360, 200, 65), p(360, 400, 85), p(240, 400, 72)]
    hull = convex_hull(points)
    assert [(x.rung.height, x.rung.video_kbps) for x in hull] == [
        (240, 100),
        (240, 200),
        (360, 400),
    ]


def test_hull_drops_points_under_the_concave_frontier():
    points = [p(240, 100, 50), p(360, 300, 60), p(480, 400, 90)]
    # (300, 60) lies below the line from (100, 50) to (400, 90): not worth a rung.
    assert [x.rung.video_kbps for x in convex_hull(points)] == [100, 400]


def test_an_easy_title_gets_cheap_rungs():
    easy = [p(240, 100, 88), p(240, 200, 90), p(360, 200, 96.9), p(360, 800, 97.3)]
    assert choose_ladder(easy) == [Rung(240, 100), Rung(360, 200)]


def test_steps_with_little_gain_are_dropped():
    points = [p(240, 100, 90), p(360, 400, 91), p(480, 800, 95)]
    assert [r.height for r in choose_ladder(points, min_gain_vmaf=2)] == [240, 480]
