import os

from piccolo.conf.apps import AppConfig

from hub.subscriptions.tables import (
    BillingCustomer,
    Subscription,
    SubscriptionInvoice,
    SubscriptionPlan,
)

APP_CONFIG = AppConfig(
    app_name="subscriptions",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "piccolo_migrations"),
    table_classes=[SubscriptionPlan, BillingCustomer, Subscription, SubscriptionInvoice],
    migration_dependencies=["hub.billing.piccolo_app", "hub.runs.piccolo_app"],
)
