import os

from piccolo.conf.apps import AppConfig

from hub.billing.tables import (
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    Payout,
    PayoutAccount,
    PromoEarningsMonth,
    Sale,
    StarterGrant,
    StripeEvent,
    TopUp,
)

APP_CONFIG = AppConfig(
    app_name="billing",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "piccolo_migrations"),
    table_classes=[
        LedgerAccount,
        LedgerTransaction,
        LedgerEntry,
        Sale,
        TopUp,
        StripeEvent,
        PayoutAccount,
        Payout,
        StarterGrant,
        PromoEarningsMonth,
    ],
    migration_dependencies=["hub.accounts.piccolo_app"],
)
