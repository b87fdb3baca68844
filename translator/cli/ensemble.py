"""`translator calibrate --checkpoint a.pt+b.pt`: an ensemble's confidence calibration fitted
on a validation split and stored beside its first member (translator/inference/ensemble.py
says where and when it is refitted); `translator calibrate` of one checkpoint is
translator/training/calibrate.py."""

from __future__ import annotations

import argparse
import json
import sys

from translator.checkpoint_file import spec_members
from translator.errors import UserError


def is_ensemble(spec: str) -> bool:
    """Whether a model spec names several checkpoints (`a.pt+b.pt`)."""
    return len(spec_members(spec)) > 1


def calibrate_ensemble(args: argparse.Namespace) -> int:
    """Fit and store the calibration of the ensemble `args.checkpoint` on `args.split` of
    `args.data` at `args.beam`; with `args.if_missing`, keep a current one."""
    from translator.inference.ensemble import store_calibration
    from translator.inference.translator import Translator

    if args.out:
        raise UserError("--out is for one checkpoint: an ensemble's calibration is stored "
                        "beside its first member")
    translator = Translator.from_checkpoint(args.checkpoint, calibrate=False)
    if args.if_missing and (translator.calibration or translator.calibrations):
        print(f"{args.checkpoint} has a current confidence calibration", file=sys.stderr)
        return 0
    record = store_calibration(translator, translator.members, args.data, split=args.split,
                               beam_size=args.beam)
    print(json.dumps({"checkpoint": args.checkpoint, "file": record["file"],
                      "confidence": record["confidence"]}, indent=2))
    return 0
