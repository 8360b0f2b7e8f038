import sys

from evals.bench.cli import main

sys.exit(main())
