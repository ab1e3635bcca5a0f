from reelcloud.cli import main

main()
