"""The sign-up API: the application API for non-members and for a member's plan — plans and
prices, joining with a free trial or a first payment, changing plan, cancelling, rejoining, a
new card, invoices. Orchestration only: accounts holds members, billing holds the money
(`service.py` says how a sign-up stays whole when a step fails)."""
