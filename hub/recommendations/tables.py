"""Recommendation tables (written only by the cron job). The schema lives in the migrations."""

from piccolo.columns import UUID, Float, ForeignKey, SmallInt, Timestamptz, Varchar
from piccolo.table import Table

from hub.accounts.tables import User
from hub.prompts.tables import Prompt


class PromptSimilar(Table, tablename="prompt_similar"):
    prompt_id = ForeignKey(references=Prompt, null=False)
    rank = SmallInt()
    similar_id = ForeignKey(references=Prompt, null=False)
    score = Float()
    reason = Varchar(length=16)


class PromptSimilarState(Table, tablename="prompt_similar_state"):
    prompt_id = ForeignKey(references=Prompt, primary_key=True)
    computed_at = Timestamptz()


class UserRecommendation(Table, tablename="user_recommendations"):
    user_id = ForeignKey(references=User, null=False)
    rank = SmallInt()
    prompt_id = ForeignKey(references=Prompt, null=False)
    score = Float()
    reason = Varchar(length=16)
    source_id = UUID(null=True, default=None)


class UserRecommendationState(Table, tablename="user_recommendation_state"):
    user_id = ForeignKey(references=User, primary_key=True)
    computed_at = Timestamptz()
