"""Subscription tables. The schema itself (constraints, indexes) lives in the migrations."""

from piccolo.columns import UUID, BigInt, Boolean, ForeignKey, Integer, Timestamptz, Varchar
from piccolo.table import Table

from hub.accounts.tables import User


class SubscriptionPlan(Table, tablename="subscription_plans"):
    creator_id = ForeignKey(references=User, primary_key=True)
    price_cents = Integer()
    runs_included = Integer()
    stripe_product_id = Varchar(length=255)
    stripe_price_id = Varchar(length=255)
    active = Boolean(default=True)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class BillingCustomer(Table, tablename="billing_customers"):
    user_id = ForeignKey(references=User, primary_key=True)
    stripe_customer_id = Varchar(length=255)
    created_at = Timestamptz()


class Subscription(Table, tablename="subscriptions"):
    id = UUID(primary_key=True)
    subscriber_id = ForeignKey(references=User, null=False)
    creator_id = ForeignKey(references=User, null=False)
    stripe_subscription_id = Varchar(length=255)
    price_cents = Integer()
    runs_included = Integer()
    status = Varchar(length=16)
    current_period_start = Timestamptz()
    current_period_end = Timestamptz()
    cancel_at_period_end = Boolean(default=False)
    grace_until = Timestamptz(null=True, default=None)
    canceled_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class SubscriptionInvoice(Table, tablename="subscription_invoices"):
    stripe_invoice_id = Varchar(length=255, primary_key=True)
    subscription_id = UUID()
    creator_id = UUID()
    subscriber_id = UUID()
    amount_cents = Integer()
    fee_cents = Integer()
    earning_cents = Integer()
    debt_paid_cents = Integer(default=0)
    period_start = Timestamptz()
    period_end = Timestamptz()
    transaction_id = BigInt()
    matures_at = Timestamptz()
    matured_transaction_id = BigInt(null=True, default=None)
    created_at = Timestamptz()
