"""Flask-WTF forms (CSRF-protected) of the pages."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, MultipleFileField
from wtforms import BooleanField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import NumberRange, Optional

from translator.defaults import BEAM_SIZE, MAX_BEAM, MIN_BEAM, TEST_SPLIT


class TranslateForm(FlaskForm):
    text = TextAreaField("Text")
    source = SelectField("From")
    target = SelectField("To")
    beam_size = IntegerField("Beam size", default=BEAM_SIZE,
                             validators=[NumberRange(MIN_BEAM, MAX_BEAM)])
    reference = TextAreaField("Reference (optional)", validators=[Optional()])
    alternatives = IntegerField("Alternatives", default=0,
                                validators=[Optional(), NumberRange(0, MAX_BEAM - 1)])


class DocumentForm(FlaskForm):
    file = FileField("File")
    text = TextAreaField("…or paste the text", validators=[Optional()])
    reference_file = FileField("Reference .txt (optional)")
    retranslate = BooleanField("PO/XLIFF: also retranslate entries that have a translation")
    source = SelectField("From")
    target = SelectField("To")
    beam_size = IntegerField("Beam size", default=BEAM_SIZE,
                             validators=[NumberRange(MIN_BEAM, MAX_BEAM)])


class EvaluateForm(FlaskForm):
    checkpoint = SelectField("Checkpoint", validate_choice=False)  # the intake checks it
    ensemble = StringField("…or an ensemble (listed names joined by +)",
                           validators=[Optional()])
    system = StringField("…or a system's name", validators=[Optional()])
    hypotheses_file = FileField("and its output .txt (one line per segment)")
    pair = StringField("Language pair (a system's, or a multilingual checkpoint's direction)",
                       validators=[Optional()])
    testset = StringField("Named test set", default=TEST_SPLIT,
                          validators=[Optional()])
    source_file = FileField("…or source .txt")
    reference_file = MultipleFileField("and reference .txt (several: several references)")
    beam_size = IntegerField("Beam size", default=BEAM_SIZE,
                             validators=[NumberRange(MIN_BEAM, MAX_BEAM)])


class LoginForm(FlaskForm):
    key = StringField("API key")


class CancelForm(FlaskForm):
    """Only the CSRF token."""
