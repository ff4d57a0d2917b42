"""``python -m persona_iaa`` (also what ``torchrun -m persona_iaa`` launches)."""
import sys

from .cli import main

sys.exit(main())
