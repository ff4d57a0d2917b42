"""``persona-iaa profile bfi10|tipi`` and ``persona-iaa personalize calibrate|fit|evaluate``."""

from __future__ import annotations

import argparse
import json
import sys

from . import EXIT_OK, command, print_json


def _profile_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="instrument", metavar="INSTRUMENT", required=True)
    for name, title, scale in (
        ("bfi10", "BFI-10 (Rammstedt & John, 2007)", "1-5"),
        ("tipi", "TIPI (Gosling, Rentfrow & Swann, 2003)", "1-7"),
    ):
        q = sub.add_parser(
            name,
            help=f"{title}: ten answers {scale}",
            description=f"Score the {title} (item texts: see the paper; asked by number when "
            f"--answers is omitted) into a profile: traits O, C, E, A, N in [-1, 1].",
        )
        q.add_argument("--answers", metavar="A1,...,A10", help=f"the ten answers in item order, each {scale}")
        q.add_argument("--output", metavar="FILE", help="profile JSON to write (default: stdout)")


@command(
    "profile",
    "score a ten-item personality questionnaire into a profile (BFI-10 or TIPI)",
    _profile_arguments,
)
def cmd_profile(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..personal.questionnaires import ask_answers, instrument, parse_answers, profile_from_answers

    if args.answers is None:
        tool = instrument(args.instrument)
        print(f"{tool.title}: {tool.items_published}.\nSource: {tool.citation}", file=sys.stderr)
        try:
            answers = ask_answers(args.instrument, lambda prompt: input(prompt))
        except EOFError:
            raise ConfigError("no answers given; pass --answers A1,...,A10") from None
    else:
        answers = parse_answers(args.answers)
    profile = profile_from_answers(args.instrument, answers)
    if args.output:
        profile.save(args.output)
        print(f"profile written to {args.output}", file=sys.stderr)
    else:
        print(json.dumps(profile.to_dict(), indent=2))
    return EXIT_OK


def _shots(text: str) -> list[int]:
    try:
        return [int(k) for k in text.split(",") if k.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers like 10,100, got {text!r}") from None


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--checkpoint", required=True, metavar="RUN_DIR", help="run directory or model .safetensors"
    )
    p.add_argument("--device", default="auto")
    p.add_argument("--batch-size", type=int, metavar="N", help="images per model call")
    p.add_argument("--workers", type=int, metavar="N", help="decoding processes (0: decode in this process)")


def _personalize_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, help_text in (
        (
            "calibrate",
            "fit the traits-to-weights mapping on users with traits and ratings, and store it with the model",
        ),
        ("evaluate", "the few-shot protocol: generic vs traits vs k ratings, SROCC per user"),
    ):
        q = sub.add_parser(name, help=help_text, description=help_text)
        _common(q)
        q.add_argument(
            "--ratings",
            required=True,
            metavar="FORMAT:PATH",
            help="para:ROOT, flickr-aes:ROOT or csv:FILE[,users=FILE]",
        )
        q.add_argument(
            "--test-users", metavar="N|FILE", help="the last N users, or a list file (default: the format's)"
        )
        q.add_argument(
            "--shots", type=_shots, default=[10, 100], metavar="K,K", help="ratings to fit on (10,100)"
        )
        q.add_argument("--seed", type=int, default=0)
        if name == "evaluate":
            q.add_argument("--repeats", type=int, default=10, help="random draws per user and k (10)")
            q.add_argument("--json", action="store_true", help="print JSON instead of a table")
    q = sub.add_parser(
        "fit",
        help="fit a person's weights from their ratings and write their profile",
        description="Fit a person's weights from their ratings (CSV path,score; any numeric scale).",
    )
    _common(q)
    q.add_argument(
        "--ratings", required=True, metavar="CSV", help="path,score rows (paths relative to the file)"
    )
    q.add_argument("--profile", metavar="JSON", help="their questionnaire profile: traits set the prior")
    q.add_argument("--output", required=True, metavar="JSON", help="the profile to write")


def _predictor(args: argparse.Namespace):
    from .. import load_model

    return load_model(args.checkpoint, device=args.device, batch_size=args.batch_size, workers=args.workers)


@command(
    "personalize",
    "personal rankings: calibrate a run, fit a person, evaluate the few-shot protocol",
    _personalize_arguments,
)
def cmd_personalize(args: argparse.Namespace) -> int:
    from ..personal import workflow
    from ..personal.profile import Profile

    if args.action == "fit":
        profile = Profile.load(args.profile) if args.profile else None
        fitted = workflow.fit_profile(_predictor(args), args.ratings, profile)
        fitted.save(args.output)
        print(
            f"fitted on {fitted.fit['ratings']} ratings (prior: {fitted.fit['prior']}); profile written to "
            f"{args.output}",
            file=sys.stderr,
        )
        return EXIT_OK
    if args.action == "calibrate":
        calibration, path = workflow.calibrate(
            _predictor(args),
            args.ratings,
            test_users=args.test_users,
            shots=args.shots,
            seed=args.seed,
            progress=True,
        )
        print(_calibration_summary(calibration, path))
        return EXIT_OK
    workflow.check_shots(args.shots, args.repeats)
    result = workflow.evaluate(
        _predictor(args),
        args.ratings,
        test_users=args.test_users,
        shots=args.shots,
        repeats=args.repeats,
        seed=args.seed,
        progress=not args.json,
    )
    if args.json:
        print_json(result)
    else:
        from ..personal.report import protocol_table

        print(protocol_table(result))
    return EXIT_OK


def _calibration_summary(calibration, path) -> str:
    info = calibration.info
    lines = [
        f"calibrated on {info['users']} users ({info['ratings']} ratings; test users left out: "
        f"{info['test_users']}); written to {path}"
    ]
    cv = info.get("cv_srocc")
    if cv:
        lines.append(
            f"held-out calibration users, zero-shot SROCC: generic {cv['generic']:.3f}, one population "
            f"weight vector {cv['population']:.3f}, from their traits {cv['traits']:.3f}"
        )
    else:
        lines.append(
            "no traits in this source: profiles need ratings (`personalize fit`); the prior strength is set"
        )
    lines.append(f"few-shot prior strength: {info['prior_strength']:g} ratings' worth")
    return "\n".join(lines)
