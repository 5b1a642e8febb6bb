"""Media tables. The schema itself (constraints, indexes) lives in the migrations."""

from piccolo.columns import UUID, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.table import Table

from hub.prompts.tables import Prompt, PromptSample


class SampleMedia(Table, tablename="sample_media"):
    id = UUID(primary_key=True)
    sample_id = ForeignKey(references=PromptSample, null=False)
    prompt_id = ForeignKey(references=Prompt, null=False)
    key = Text()
    thumbnail_key = Text()
    content_type = Varchar(length=32)
    width = Integer()
    height = Integer()
    bytes = Integer()
    thumbnail_width = Integer()
    thumbnail_height = Integer()
    alt = Varchar(length=300, default="")
    created_at = Timestamptz()
