from hookctl.cli.commands import main

raise SystemExit(main())
