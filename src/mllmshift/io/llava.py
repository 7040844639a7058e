"""LLaVA answer files: questions, responses and references joined on ``question_id``.

The layout of LLaVA-Bench (and of ../shared/data):

- questions JSONL: ``question_id``, ``image`` (file name), ``text``, ``category``;
- responses JSONL (LLaVA answer-file format): ``question_id``, ``prompt`` (the
  text query the model saw), ``text`` (the response), ``answer_id``,
  ``model_id``, ``metadata``;
- references JSONL: ``question_id``, ``text`` (e.g. GPT-4's answers);
- optionally a captions JSONL (``image``, ``captions``: list of strings) whose
  captions stand in for the image when the image itself is unavailable.

The question of a sample is the response file's ``prompt`` when present (the
possibly perturbed query the model actually saw), else the questions file's
``text``. Answer files written by ``mllmshift respond`` also carry each sample's
``reference``, ``image`` (a path; relative ones are resolved against the answer
file's folder) and ``image_text``; they are used where no references, questions
or captions file says otherwise, so such a file reads on its own.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mllmshift.errors import DataError
from mllmshift.io.checks import Origin, finish_split, sample_id
from mllmshift.io.jsonl import iter_jsonl, require_field
from mllmshift.records import Sample, Split

PathLike = str | os.PathLike[str]


def _index_by_qid(path: PathLike, what: str) -> dict[str, tuple[int, dict[str, Any]]]:
    p = Path(path)
    out: dict[str, tuple[int, dict[str, Any]]] = {}
    for lineno, obj in iter_jsonl(p):
        require_field(obj, "question_id", p, lineno, kinds=())
        qid = sample_id(obj["question_id"], path=p, line=lineno, field="question_id")
        if qid in out:
            raise DataError(f"duplicate question_id '{qid}' in {what} (first on line {out[qid][0]})",
                            path=p, line=lineno, field="question_id")
        out[qid] = (lineno, obj)
    if not out:
        raise DataError(f"no records in {what}", path=p)
    return out


def read_captions(path: PathLike) -> dict[str, str]:
    """Image file name → its captions joined into one paragraph."""
    return {image: text for image, (_, text) in _captions_index(path).items()}


def _captions_index(path: PathLike) -> dict[str, tuple[int, str]]:
    """Image file name → (line, its captions joined into one paragraph)."""
    p = Path(path)
    out: dict[str, tuple[int, str]] = {}
    for lineno, obj in iter_jsonl(p):
        image = require_field(obj, "image", p, lineno)
        caps = require_field(obj, "captions", p, lineno, kinds=(list,))
        if not all(isinstance(c, str) for c in caps):
            raise DataError("expected a list of strings", path=p, line=lineno, field="captions")
        out[image] = (lineno, " ".join(c.strip() for c in caps))
    return out


def read_llava(
    responses: PathLike | None,
    *,
    questions: PathLike | None = None,
    references: PathLike | None = None,
    captions: PathLike | None = None,
    image_folder: PathLike | None = None,
    name: str | None = None,
    strict: bool = True,
    allow_empty: bool = False,
    allow_mixed_visual: bool = False,
) -> Split:
    """Join LLaVA answer files into a :class:`Split`.

    Args:
        responses: the model's answer file; None builds a split of questions
            (and references) alone, e.g. to generate responses for.
        questions: the questions file; required when ``responses`` is None.
        references: the reference answer file (``text`` becomes ``Sample.reference``).
        captions: captions file; an image's captions become ``Sample.image_text``.
        image_folder: folder holding the images named in the questions file.
        strict: every response must match a question and a reference and every
            question must have a response; otherwise unmatched ids raise a
            :class:`DataError` naming file, line and ``question_id``. With
            ``strict=False`` questions without a response are dropped.
        allow_empty, allow_mixed_visual: relax the checks of :mod:`mllmshift.io.checks`
            (empty answers; only some questions with an image), with warnings in the metadata.
    """
    if responses is None and questions is None:
        raise DataError("read_llava needs a responses file or a questions file")
    q_index = _index_by_qid(questions, "questions") if questions is not None else None
    r_index = _index_by_qid(references, "references") if references is not None else None
    caps = _captions_index(captions) if captions is not None else None

    order: list[tuple[str, int, dict[str, Any] | None]]
    if responses is not None:
        a_index = _index_by_qid(responses, "responses")
        order = [(qid, line, obj) for qid, (line, obj) in a_index.items()]
    else:
        assert q_index is not None
        order = [(qid, line, None) for qid, (line, _) in q_index.items()]

    samples: list[Sample] = []
    origins: list[Origin] = []
    for qid, a_line, a_obj in order:
        fields: dict[str, tuple[PathLike | None, int | None, str]] = {}
        src = Path(responses) if responses is not None else Path(questions)  # type: ignore[arg-type]
        q_obj: dict[str, Any] | None = None
        if q_index is not None:
            if qid not in q_index:
                raise DataError(f"question_id '{qid}' is not in the questions file {questions}",
                                path=src, line=a_line, field="question_id")
            q_line, q_obj = q_index[qid]
        ref: str | None = None
        if r_index is not None:
            if qid not in r_index:
                raise DataError(f"question_id '{qid}' has no reference in {references}",
                                path=src, line=a_line, field="question_id")
            r_line, r_obj = r_index[qid]
            ref = require_field(r_obj, "text", references, r_line)  # type: ignore[arg-type]
            fields["reference"] = (references, r_line, "text")
        question = None
        response = None
        metadata: dict[str, Any] = {}
        image = image_text = None
        if a_obj is not None:
            response = require_field(a_obj, "text", responses, a_line)  # type: ignore[arg-type]
            fields["response"] = (responses, a_line, "text")
            question = require_field(a_obj, "prompt", responses, a_line, optional=True)  # type: ignore[arg-type]
            for key in ("answer_id", "model_id"):
                if key in a_obj:
                    metadata[key] = a_obj[key]
            if r_index is None:
                ref = require_field(a_obj, "reference", responses, a_line, optional=True)  # type: ignore[arg-type]
            image = require_field(a_obj, "image", responses, a_line, optional=True)  # type: ignore[arg-type]
            if image is not None and not os.path.isabs(image):
                image = str(Path(responses).parent / image)  # type: ignore[arg-type]
            image_text = require_field(a_obj, "image_text", responses, a_line, optional=True)  # type: ignore[arg-type]
        if q_obj is not None:
            q_text = require_field(q_obj, "text", questions, q_line)  # type: ignore[arg-type]
            question = question if question is not None else q_text
            metadata["original_question"] = q_text
            if "category" in q_obj:
                metadata["category"] = q_obj["category"]
            img_name = require_field(q_obj, "image", questions, q_line, optional=True)  # type: ignore[arg-type]
            fields["image"] = (questions, q_line, "image")
            if img_name is not None:
                metadata["image_name"] = img_name
                if image_folder is not None:
                    image = str(Path(image_folder) / img_name)
                if caps is not None:  # the captions file wins over stand-in text in the answer file
                    if img_name not in caps:
                        raise DataError(f"image '{img_name}' has no captions in {captions}",
                                        path=questions, line=q_line, field="image")
                    cap_line, image_text = caps[img_name]
                    fields["image_text"] = (captions, cap_line, "captions")
        if question is None:
            raise DataError("no question text: the response has no 'prompt' and no questions file was given",
                            path=src, line=a_line, field="prompt")
        samples.append(Sample(id=qid, question=question, response=response, reference=ref, image=image,
                              image_text=image_text, metadata=metadata))
        origins.append(Origin(src, a_line, fields))
    if responses is not None and q_index is not None and strict:
        missing = [qid for qid in q_index if qid not in a_index]
        if missing:
            raise DataError(f"question_id '{missing[0]}' has no response in {responses} "
                            f"({len(missing)} questions unanswered; strict=False drops them)",
                            path=questions, line=q_index[missing[0]][0], field="question_id")
    src_name = Path(responses).stem if responses is not None else Path(questions).stem  # type: ignore[arg-type]
    meta = {"format": "llava", "responses": None if responses is None else str(responses),
            "questions": None if questions is None else str(questions),
            "references": None if references is None else str(references),
            "captions": None if captions is None else str(captions)}
    return finish_split(name or src_name, samples, origins, meta, allow_empty=allow_empty,
                        allow_mixed_visual=allow_mixed_visual)
