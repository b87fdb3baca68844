"""Paragraphs through LibreTranslate's `POST /translate`: a test set's consecutive sentences
joined three per line (the last line may hold fewer) against the same sentences sent one per
request and joined the same way, both scored with sacreBLEU on the references joined the same
way. A third figure, in-process and without sentence splitting (what the interactive paths
did before), shows what splitting is for. The whole system runs on loopback (web_load's
set-up, rate limit off).

    python benchmarks/paragraphs.py --checkpoint runs/de-en/best.pt [--json F]
"""

from __future__ import annotations

import json
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from web_load import post, start_system, system_arguments

from translator import Translator
from translator.data.corpus import read_split
from translator.defaults import BEAM_SIZE, TEST_SPLIT
from translator.evaluation.metrics import score
from worker.redis_server import EmbeddedRedis

FINAL_PUNCTUATION = tuple('.!?;:"\'»“”)')


def join3(lines: list[str]) -> list[str]:
    return [" ".join(lines[i:i + 3]) for i in range(0, len(lines), 3)]


def main() -> None:
    p = system_arguments(__doc__)
    p.add_argument("--split", default=TEST_SPLIT)
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args()
    src_lang, tgt_lang = args.pair.split("-")
    test = read_split(args.data, args.split, src_lang, tgt_lang)
    joined_src, joined_ref = join3(test.src), join3(test.tgt)
    unsplittable = sum(not s.rstrip().endswith(FINAL_PUNCTUATION) for s in test.src[:-1])
    state = Path(tempfile.mkdtemp(prefix="paragraphs_"))
    with EmbeddedRedis(state) as redis_server:
        supervisor, base = start_system(redis_server, state, args.checkpoint, args.pair,
                                        test.src[:20])

        def translate(q: str) -> str:
            status, answer, _ = post(f"{base}/translate",
                                     {"q": q, "source": src_lang, "target": tgt_lang})
            if status != 200:
                raise RuntimeError(f"/translate answered {status}: {answer}")
            return answer["translatedText"]

        with ThreadPoolExecutor(args.clients) as pool:
            one_by_one = list(pool.map(translate, test.src))
            paragraphs = list(pool.map(translate, joined_src))
        supervisor.stop()
    unsplit = Translator.from_checkpoint(args.checkpoint, threads=2).translate(
        joined_src, beam_size=BEAM_SIZE)
    results = {
        "sentences": len(test.src), "lines": len(joined_src),
        "sentences_without_final_punctuation": unsplittable,
        "one_per_request": score(join3(one_by_one), joined_ref),
        "paragraphs": score(paragraphs, joined_ref),
        "paragraphs_unsplit_in_process": score(unsplit, joined_ref),
    }
    for name in ("one_per_request", "paragraphs", "paragraphs_unsplit_in_process"):
        r = results[name]
        print(f"{name:32} BLEU {r['bleu']:6.2f}  chrF {r['chrf']:6.2f}", flush=True)
    diff = results["paragraphs"]["bleu"] - results["one_per_request"]["bleu"]
    print(f"paragraphs - one per request: {diff:+.2f} BLEU; {unsplittable} of "
          f"{len(test.src) - 1} joined sentences end without final punctuation "
          f"({results['one_per_request']['signatures']['bleu']})")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
