"""Ledger tables. The schema itself (constraints, triggers, indexes) lives in the migrations."""

from piccolo.columns import UUID, BigInt, Integer, Text, Timestamptz, Varchar
from piccolo.table import Table


class LedgerAccount(Table, tablename="ledger_accounts"):
    id = BigInt(primary_key=True)
    kind = Varchar(length=32)
    user_id = UUID(null=True)
    currency = Varchar(length=3, default="USD")
    balance = BigInt(default=0)
    created_at = Timestamptz()


class LedgerTransaction(Table, tablename="ledger_transactions"):
    id = BigInt(primary_key=True)
    kind = Varchar(length=32)
    ref = Varchar(length=200)
    run_id = UUID(null=True)
    memo = Text(default="")
    created_at = Timestamptz()


class LedgerEntry(Table, tablename="ledger_entries"):
    id = BigInt(primary_key=True)
    transaction_id = BigInt()
    account_id = BigInt()
    amount = BigInt()
    balance_after = BigInt()
    created_at = Timestamptz()


class Sale(Table, tablename="sales"):
    run_id = UUID(primary_key=True)
    prompt_id = UUID()
    creator_id = UUID()
    buyer_id = UUID()
    transaction_id = BigInt()
    gross_cents = Integer()
    fee_cents = Integer()
    earning_cents = Integer()
    matures_at = Timestamptz()
    matured_transaction_id = BigInt(null=True)
    created_at = Timestamptz()
