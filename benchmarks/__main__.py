"""``python -m benchmarks``: run the suite, print the table, write the JSON."""

from benchmarks.run import main

raise SystemExit(main())
