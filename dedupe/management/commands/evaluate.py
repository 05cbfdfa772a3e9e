import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dedupe.evaluation import (
    address_flag_score,
    address_flagged,
    baseline_pairs,
    candidate_pairs,
    hard_negative_kinds,
    load_lookalikes,
    load_truth,
    load_wrong_attachments,
    pairs_described,
    score,
    truth_labels,
)


class Command(BaseCommand):
    help = "Score the candidates of an imported corpus against its answer key (make_corpus.py's truth.csv)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("truth", type=Path)
        parser.add_argument("--hard-negatives", type=Path, help="hard_negatives.csv: look-alike pairs")
        parser.add_argument(
            "--wrong-attachments",
            type=Path,
            help="wrong_attachments.csv: copies attached to another property's record; scores the address flag",
        )
        parser.add_argument("--json", action="store_true", help="print one JSON object")
        parser.add_argument(
            "--false-pairs",
            action="store_true",
            help="list the pairs proposed that are not true pairs: each file's group and transform, the evidence",
        )
        parser.add_argument(
            "--missed-pairs",
            action="store_true",
            help="list the true pairs not proposed, with each file's group and transform",
        )
        parser.add_argument(
            "--baseline", action="store_true", help="also score imagehash pHash, naive decode, threshold 10, all pairs"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        for path in filter(None, [options["truth"], options["hard_negatives"], options["wrong_attachments"]]):
            if not path.is_file():
                raise CommandError(f"{path}: no such file")
        ids, truth = load_truth(options["truth"])
        if not ids:
            raise CommandError(f"{options['truth']}: none of its paths were imported; run import_archive first")
        lookalikes = load_lookalikes(options["hard_negatives"], ids) if options["hard_negatives"] else []
        kinds = hard_negative_kinds(options["truth"], ids, lookalikes)
        found = candidate_pairs(ids.values())
        result = score(found, truth, lookalikes, kinds)
        if options["wrong_attachments"]:
            wrong = load_wrong_attachments(options["wrong_attachments"], ids)
            result["address_flag"] = address_flag_score(found, truth, wrong, address_flagged(ids.values()))
        if options["false_pairs"] or options["missed_pairs"]:
            labels = truth_labels(options["truth"], ids)
            if options["false_pairs"]:
                result["false_pairs"] = pairs_described(found.keys() - truth.keys(), labels)
            if options["missed_pairs"]:
                result["missed_pairs"] = pairs_described(truth.keys() - found.keys(), labels)
        if options["baseline"]:
            result["baseline"] = score(baseline_pairs(ids.values()), truth, lookalikes, kinds)
        if options["json"]:
            self.stdout.write(json.dumps(result))
            return
        self._print("Dedupe Desk", result)
        for heading in ("false_pairs", "missed_pairs"):
            for row in result.get(heading, []):
                self.stdout.write(self._pair_line(heading.replace("_", " ").rstrip("s"), row))
        if "baseline" in result:
            self._print("Baseline (imagehash pHash, threshold 10, all pairs)", result["baseline"])

    @staticmethod
    def _pair_line(title: str, row: dict) -> str:
        files = " | ".join(f"{row[f'path_{s}']} ({row[f'group_{s}']}, {row[f'transform_{s}']})" for s in "ab")
        found = f"  {row['kind']} {row['score']} {json.dumps(row['evidence'])}" if "kind" in row else ""
        return f"  {title}: {files}{found}"

    def _print(self, title: str, r: dict) -> None:
        self.stdout.write(f"{title}: precision {r['precision']:.4f}  recall {r['recall']:.4f}  F1 {r['f1']:.4f}")
        self.stdout.write(f"  {r['found_pairs']} pairs found, {r['true_pairs']} true pairs")
        self.stdout.write(
            f"  group level (both in one group): precision {r['group_precision']:.4f}  recall {r['group_recall']:.4f}"
        )
        for label, recall in r["per_transform"].items():
            self.stdout.write(f"  recall {label:<18} {recall:.4f}")
        la = r["lookalikes"]
        self.stdout.write(
            f"  look-alike pairs: {la['pairs']}, found {la['found']}, "
            f"true pairs scored no higher than a look-alike: {la['true_pairs_not_above']}"
        )
        for kind, hn in r["hard_negatives_proposed"].items():
            self.stdout.write(
                f"  hard negatives {kind:<16} {hn['proposed']} of {hn['pairs']} proposed as one photograph"
            )
        if "address_flag" in r:
            af = r["address_flag"]
            self.stdout.write(
                f"  address flag over the {af['pairs']} true pairs found: precision {af['precision']:.4f}  "
                f"recall {af['recall']:.4f} ({af['flagged']} flagged, {af['should_flag']} with a wrong attachment)"
            )
