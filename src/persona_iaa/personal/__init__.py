"""Personal aesthetics: rank photos for one person, from ten questionnaire answers or a few ratings.

* :mod:`.questionnaires`: BFI-10 and TIPI, scored as published.
* :mod:`.profile`: a person's profile, the run's trait calibration, personal weights (imports only models/).
* :mod:`.scoring`: personal scores beside the generic ones (``score --profile``, ``Predictor.personalize``).
* :mod:`.fewshot`, :mod:`.calibration`: the per-person stage-2 fit and the traits-to-weights mapping.
* :mod:`.protocol`, :mod:`.report`: the field's few-shot protocol and its table with quoted results.
* :mod:`.workflow`: what the ``personalize`` commands do; :mod:`.world`, :mod:`.demo`: the demo's part.

Only the training-free modules are imported here, so the inference layer may import this package.
"""

from __future__ import annotations

from .profile import Calibration, PersonalWeights, Profile
from .questionnaires import INSTRUMENTS, score_answers

__all__ = ["Calibration", "INSTRUMENTS", "PersonalWeights", "Profile", "score_answers"]
