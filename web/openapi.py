"""The OpenAPI 3.1 description of /api/v1 and the LibreTranslate-compatible routes (served at
/api/v1/openapi.json)."""

from __future__ import annotations

from translator.defaults import BEAM_SIZE, MAX_BEAM, MIN_BEAM, TEST_SPLIT
from worker.workbench import MAX_REFERENCES

from .workbench import MAX_PER_PAGE, MAX_QUERY_CHARS, MAX_SYSTEMS, PER_PAGE, SORTS

ERRORS = {
    "400": "malformed JSON or wrong types", "403": "a valid API key is required",
    "404": "no such job", "409": "the job is in the wrong state (finished, or no result yet)",
    "413": "request too large", "422": "invalid input (empty, too long, unknown pair, ...)",
    "429": "rate limit exceeded", "503": "the job queue (Redis) is not reachable",
}


def _responses(ok: str, *errors: str, status: str = "200") -> dict:
    out = {status: {"description": ok, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/Job"}}}}}
    for code in errors:
        out[code] = {"description": ERRORS[code], "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/Error"}}}}
    return out


def _json_body(schema: dict) -> dict:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


TEXT = {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
BEAM = {"type": "integer", "minimum": MIN_BEAM, "maximum": MAX_BEAM, "default": BEAM_SIZE}
CONFIDENCE = {"type": ["number", "null"], "minimum": 0, "maximum": 1,
              "description": "the model's confidence in the translation (translator/"
                             "confidence.py); null where the worker gave none"}
WAIT = {"type": "number", "minimum": 0, "default": 0,
        "description": "seconds to wait for the job to finish (at most TRANSLATE_TIMEOUT): the "
                       "request is woken when it does, no polling"}
JOB_ID = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}


def openapi_document() -> dict:
    return {
        "openapi": "3.1.0",
        "info": {"title": "translator API", "version": "1",
                 "description": "Neural machine translation jobs served by Celery workers."},
        "servers": [{"url": "/"}],
        "components": {
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key",
                           "description": "or an `api_key` field in a JSON or form body "
                           "(LibreTranslate's way; the query string works too, but proxies "
                           "and logs record URLs)"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error", "status"], "properties": {
                    "error": {"type": "string"}, "status": {"type": "integer"},
                    "job_id": {"type": "string"}}},
                "Job": {"type": "object", "properties": {
                    "id": {"type": "string"},
                    "kind": {"enum": ["text", "document", "evaluation"]},
                    "status": {"enum": ["queued", "running", "done", "failed", "cancelled"]},
                    "pair": {"type": "string"}, "beam": {"type": "integer"},
                    "alpha": {"type": "number", "description": "an evaluated checkpoint's "
                              "beam search: its GNMT length penalty"},
                    "pivot": {"type": "string", "description": "translated through this "
                                                               "language (two models)"},
                    "detected": {"type": "object", "description": "source `auto`: "
                                 "{language, confidence 0-100}"},
                    "done": {"type": "integer"}, "total": {"type": "integer"},
                    "progress": {"type": "number"}, "created": {"type": "number"},
                    "started": {"type": "number"}, "finished": {"type": "number"},
                    "error": {"type": "string"}, "scores": {"type": "object"},
                    "links": {"type": "object"},
                    "result": {"$ref": "#/components/schemas/Result"}}},
                "Result": {"type": "object", "properties": {
                    "id": {"type": "string"}, "kind": {"type": "string"},
                    "scores": {"type": "object"},
                    "translations": {"type": "array", "items": {"type": "string"},
                                     "description": "text jobs: one per segment"},
                    "confidence": {"type": "array", "items": CONFIDENCE,
                                   "description": "text jobs: per segment, the confidence of "
                                                  "its least confident sentence"},
                    "text": {"type": "string", "description": "document jobs"},
                    "sentences": {"type": "array", "items": {
                        "type": "array", "prefixItems": [{"type": "string"}, {"type": "string"}],
                        "minItems": 2, "maxItems": 2},
                        "description": "text and document jobs: every sentence as [source, "
                                       "translation]"},
                    "sentence_confidence": {"type": "array", "items": CONFIDENCE,
                                            "description": "the confidence of each sentence"},
                    "sentence_segment": {"type": "array", "items": {"type": "integer"},
                                         "description": "text jobs: each sentence's segment"},
                    "alternatives": {"type": "array", "items": {
                        "type": "array", "items": {"type": "string"}},
                        "description": "text jobs asked for `alternatives`: k more "
                                       "translations per segment, best first (an empty "
                                       "segment's are empty)"},
                    "pivot": {"type": "object", "description": "pivoted text jobs: {via, "
                              "translations}: the intermediate language and its text"},
                    "hypotheses": {"type": "array", "items": {"type": "string"},
                                   "description": "evaluation jobs"},
                    "references": {"type": "array", "items": {"type": "string"}}}},
            },
        },
        "security": [{}, {"apiKey": []}],
        "paths": {**{API + path: item for path, item in api_paths().items()},
                  **libretranslate_paths(), "/healthz": HEALTHZ},
    }


API = "/api/v1"


def api_paths() -> dict:
    """The JSON API's paths, relative to /api/v1."""
    return {
            "/translate": {"post": {
                "summary": "Create a text job (one segment or a list)",
                "requestBody": _json_body({"type": "object", "anyOf": [
                    {"required": ["text"]}, {"required": ["q"]}], "properties": {
                    "text": TEXT, "q": {**TEXT, "description": "LibreTranslate's name for "
                                             "`text` (used when `text` is absent)"},
                    "pair": {"type": "string", "example": "de-en",
                                           "description": "`auto-en`: the source detected "
                                                          "(the record's `detected`); a pair "
                                                          "without a model pivots through "
                                                          "PIVOT_LANGUAGE (`pivot`)"},
                    "source": {"type": "string", "description": "a code or `auto`"},
                    "target": {"type": "string"},
                    "alternatives": {"type": "integer", "minimum": 0, "description":
                                     "more translations of each segment (n-best): the "
                                     "result's `alternatives`, one list per segment"},
                    "beam_size": BEAM, "format": {"enum": ["text", "html"], "description":
                                                  "html: `text` is one HTML string, "
                                                  "translated as a document job, tags "
                                                  "placed by alignment; its result/file "
                                                  "is the translated HTML"},
                    "reference": TEXT, "wait": WAIT}}),
                "responses": {**_responses("job created", "400", "403", "413", "422", "429",
                                           "503", status="202"),
                              "200": {"description": "with `wait`: the job finished within it; "
                                                     "its record with `result` inline",
                                      "content": {"application/json": {"schema": {
                                          "$ref": "#/components/schemas/Job"}}}}}}},
            "/documents": {"post": {
                "summary": "Create a document job (multipart `file` upload or JSON `text`): "
                           ".txt, .md, .html/.htm, .docx, .odt, .pptx, .srt, .vtt, "
                           ".xlf/.xliff or .po, detected from the content and the name; "
                           "JSON `text` is plain text unless `filename` names another format",
                "requestBody": {"required": True, "content": {
                    "multipart/form-data": {"schema": {"type": "object", "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "text": {"type": "string", "description": "the document's text, "
                                 "when no `file` is uploaded"},
                        "reference": {"type": "string", "format": "binary"},
                        "retranslate": {"type": "boolean", "description": "PO/XLIFF: translate "
                                        "entries that already have a translation too"},
                        "pair": {"type": "string"}, "beam_size": BEAM}}},
                    "application/json": {"schema": {"type": "object", "properties": {
                        "text": {"type": "string"}, "reference": {"type": "string"},
                        "filename": {"type": "string"}, "retranslate": {"type": "boolean"},
                        "pair": {"type": "string"}, "beam_size": BEAM}}}}},
                "responses": _responses("job created", "400", "403", "413", "422", "429",
                                        "503", status="202")}},
            "/jobs": {"get": {
                "summary": "List jobs, newest first",
                "parameters": [
                    {"name": "offset", "in": "query", "schema": {"type": "integer"}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer",
                                                                "maximum": 100}}],
                "responses": {"200": {"description": "{jobs, total, offset, limit}"},
                              "503": {"description": ERRORS["503"]}}}},
            "/jobs/{job_id}": {
                "get": {"summary": "Get a job (with `wait`: once it is finished, or after "
                                   "that many seconds)",
                        "parameters": [JOB_ID, {"name": "wait", "in": "query",
                                                "schema": WAIT}],
                        "responses": _responses("the job (`result` inline when it finished "
                                                "done during the wait)", "404", "422", "503")},
                "delete": {"summary": "Cancel a job", "parameters": [JOB_ID],
                           "responses": _responses("cancelled", "404", "409", "503")}},
            "/jobs/{job_id}/cancel": {"post": {
                "summary": "Cancel a queued or running job", "parameters": [JOB_ID],
                "responses": _responses("cancelled", "404", "409", "503")}},
            "/jobs/{job_id}/result": {"get": {
                "summary": "A finished job's output as JSON", "parameters": [JOB_ID],
                "responses": {**_responses("the result", "404", "409", "503"),
                              "200": {"description": "translations, text and sentences with "
                                                     "their confidence, or hypotheses",
                                      "content": {"application/json": {"schema": {
                                          "$ref": "#/components/schemas/Result"}}}}}}},
            "/jobs/{job_id}/result.txt": {"get": {
                "summary": "A finished job's output as text", "parameters": [JOB_ID],
                "responses": {"200": {"description": "text/plain"},
                              "404": {"description": ERRORS["404"]},
                              "409": {"description": ERRORS["409"]}}}},
            "/jobs/{job_id}/result/file": {"get": {
                "summary": "A done document job's translated file, in its uploaded format "
                           "(an attachment named like `report.en.docx`)",
                "parameters": [JOB_ID],
                "responses": {"200": {"description": "the file (its format's media type)"},
                              "404": {"description": ERRORS["404"]},
                              "409": {"description": ERRORS["409"]}}}},
            "/evaluations": {"post": {
                "summary": "Evaluate a checkpoint, or score an uploaded system's output, on a "
                           "named test set or uploaded texts",
                "requestBody": _json_body({"type": "object", "properties": {
                    "checkpoint": {"type": "string", "description": "a name from /models, "
                                   "or several joined by + (an ensemble); or give `system` "
                                   "and `hypotheses`"},
                    "system": {"type": "string", "maxLength": 100,
                               "description": "an uploaded system's name"},
                    "hypotheses": {"type": "string",
                                   "description": "its output, one segment per line"},
                    "pair": {"type": "string", "example": "de-en", "description": "the "
                             "hypotheses' pair, for a named test set; the direction a "
                             "multilingual checkpoint is evaluated in"},
                    "testset": {"type": "string", "example": TEST_SPLIT},
                    "source": {"type": "string"},
                    "reference": {"oneOf": [{"type": "string"}, {
                        "type": "array", "items": {"type": "string"}, "maxItems": MAX_REFERENCES}],
                        "description": "one reference text, or several (a list)"},
                    "beam_size": BEAM}}),
                "responses": _responses("job created", "400", "403", "422", "429", "503",
                                        status="202")}},
            "/evaluations/{job_id}": {"delete": {
                "summary": "Delete a finished evaluation (its owner's) and its comparisons",
                "parameters": [JOB_ID],
                "responses": {**_responses("{deleted}", "404", "409", "422"),
                              "200": {"description": "{deleted: job_id}"}}}},
            "/models": {"get": {"summary": "Language pairs served and checkpoints known",
                                "responses": {"200": {"description": "{pairs, checkpoints}"}}}},
            "/pairs": {"get": {"summary": "Language pairs served",
                               "responses": {"200": {"description": "{pairs}"}}}},
            "/compare": {"get": COMPARE},
    }


def libretranslate_paths() -> dict:
    """LibreTranslate's routes (web/libre.py), as its clients call them."""
    lang = {"type": "string", "example": "de"}
    form = {"type": "object", "required": ["q", "source", "target"], "properties": {
        "q": TEXT, "source": {"type": "string", "example": "de",
                              "description": "a code, or `auto` to detect it"},
        "target": {"type": "string", "example": "en"},
        "alternatives": {"type": "integer", "minimum": 0, "description": "how many more "
                         "translations (n-best; a multi-sentence `q`'s k-th alternative "
                         "joins each sentence's k-th other hypothesis)"},
        "format": {"enum": ["text", "html"], "description": "html: tags and attributes kept "
                   "(alt/title translated, scripts and styles left alone), placed by "
                   "alignment"},
        "api_key": {"type": "string"}}}
    detect = {"type": "object", "required": ["q"], "properties": {
        "q": {"type": "string"}, "api_key": {"type": "string"}}}
    return {
        "/translate": {"post": {
            "summary": "LibreTranslate: translate `q` and wait for it",
            "requestBody": {"required": True, "content": {
                "application/json": {"schema": form},
                "application/x-www-form-urlencoded": {"schema": form}}},
            "responses": {**_responses("{translatedText, confidence}", "400", "403", "409",
                                       "413", "429", "503"),
                          "200": {"description": "{translatedText: str | [str], confidence, "
                                                 "alternatives (when asked), "
                                                 "detectedLanguage: {language, confidence} "
                                                 "(source auto)}"}}}},
        "/detect": {"post": {
            "summary": "LibreTranslate: the language of `q`, over every language the "
                       "detector knows (not only the served ones)",
            "requestBody": {"required": True, "content": {
                "application/json": {"schema": detect},
                "application/x-www-form-urlencoded": {"schema": detect}}},
            "responses": {**_responses("[{language, confidence}]", "400", "403", "429"),
                          "200": {"description": "[{language, confidence 0-100}], the "
                                                 "likeliest first"}}}},
        "/translate_file": {"post": {
            "summary": "LibreTranslate: translate an uploaded file and wait for it",
            "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                "type": "object", "required": ["file", "source", "target"], "properties": {
                    "file": {"type": "string", "format": "binary"}, "source": lang,
                    "target": {"type": "string"}, "api_key": {"type": "string"}}}}}},
            "responses": {**_responses("{translatedFileUrl}", "400", "403", "413", "429",
                                       "503"),
                          "200": {"description": "{translatedFileUrl}: a signed URL that "
                                                 "expires after FILE_URL_SECONDS"}}}},
        "/download_file/{token}": {"get": {
            "summary": "The translated file behind a /translate_file URL (no key needed)",
            "parameters": [{"name": "token", "in": "path", "required": True,
                            "schema": {"type": "string"}}],
            "responses": {"200": {"description": "the file"},
                          "404": {"description": "expired, altered or unknown"}}}},
        "/languages": {"get": {"summary": "LibreTranslate: languages and their targets",
                               "responses": {"200": {"description": "[{code, name, targets, pivot: "
                                                                   "{target: via} where it "
                                                                   "pivots, unavailable: "
                                                                   "{target: why} where a model "
                                                                   "is down, bleu: {target: test "
                                                                   "BLEU} where its run recorded "
                                                                   "it}]"}}}},
        "/frontend/settings": {"get": {
            "summary": "LibreTranslate: limits, keys, file formats and languages",
            "responses": {"200": {"description": "{charLimit, filesTranslation, "
                                                 "supportedFilesFormat, language, ...}"}}}},
    }


HEALTHZ = {"get": {
    "summary": "For load balancers and monitors (web/health.py), open without a key",
    "security": [{}],
    "responses": {
        "200": {"description": "{web: ok, redis: ok, models: ready | loading | failed | no "
                               "worker, models_ready, models_loading, models_failed: {pair: "
                               "why}}: `ready` once every served pair is warm in every "
                               "interactive worker that serves it"},
        "503": {"description": "{web: ok, redis: unreachable}"}}}}


def _query(name: str, schema: dict, description: str, required: bool = False) -> dict:
    return {"name": name, "in": "query", "required": required, "schema": schema,
            "description": description}


COMPARE = {
    "summary": "Two evaluations (or a baseline and several) compared sentence by sentence "
               "(web/compare.py); computed once on the evaluation queue",
    "parameters": [
        _query("baseline", {"type": "string"}, "the baseline evaluation's job id", True),
        _query("system", {"type": "array", "items": {"type": "string"},
                          "maxItems": MAX_SYSTEMS},
               "the id of an evaluation compared with the baseline (repeat for several)",
               True),
        _query("vs", {"type": "integer", "minimum": 1, "default": 1},
               "which system the segments are shown against (1: the first)"),
        _query("sort", {"enum": list(SORTS), "default": SORTS[0]},
               "segment order: the test set's, or the sentence chrF difference (system - "
               "baseline) rising or falling"),
        _query("q", {"type": "string", "maxLength": MAX_QUERY_CHARS},
               "words that must all occur (any case) in the source, a reference or either "
               "output"),
        _query("page", {"type": "integer", "minimum": 1, "default": 1}, "the page"),
        _query("per_page", {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE,
                            "default": PER_PAGE},
               "segments per page")],
    "responses": {
        "200": {"description": "{status: done, baseline, systems, vs, ids, names, test, total, "
                               "summary: [per system {id, name, bleu|chrf|ter: {score, mean, "
                               "ci, p_value, difference: {mean, low, high}}, significant, "
                               "verdict, signatures, confidence: {pearson, spearman, "
                               "segments} or null}], signatures, analysis, sort, q, segments: "
                               "[{index (1-based), source, references, baseline and system: "
                               "{output, chrf, bleu, confidence}, diff, bleu_diff, words: "
                               "{baseline, system: [{word, only, in_reference}]}}], matching, "
                               "page, per_page, pages, links}"},
        "202": {"description": "{status: pending}: being computed on the evaluation queue; "
                               "ask again (Retry-After)"},
        **{code: {"description": text} for code, text in (
            ("403", ERRORS["403"]),
            ("404", "no such evaluation, or not the caller's to see"),
            ("422", "missing ids, not a finished evaluation, or evaluations that cannot be "
                    "compared (different references)"),
            ("503", ERRORS["503"]))}}}
