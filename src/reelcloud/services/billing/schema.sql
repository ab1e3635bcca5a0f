-- The billing database (services/billing/store.py applies it at every start, under an
-- advisory lock: every statement is idempotent). What must never happen is refused here:
-- an unbalanced posting (a constraint trigger checked at commit), a ledger row changed or
-- deleted (triggers), a movement posted twice (a posting's id is its kind and reference),
-- two renewal invoices for one period and two unresolved charges of one invoice (partial
-- unique indexes).
CREATE TABLE IF NOT EXISTS subscriptions (
    id TEXT PRIMARY KEY,
    member_id TEXT NOT NULL UNIQUE,
    email TEXT NOT NULL,
    country TEXT NOT NULL,
    currency TEXT NOT NULL,
    plan TEXT NOT NULL,
    status TEXT NOT NULL,
    anchor_at TIMESTAMPTZ NOT NULL,
    period_index INTEGER NOT NULL,
    period_start TIMESTAMPTZ NOT NULL,
    period_end TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    pending_plan TEXT,
    trial_end TIMESTAMPTZ,
    cancel_at_period_end BOOLEAN NOT NULL,
    payment_method_id TEXT,
    open_invoice_id TEXT,
    failed_at TIMESTAMPTZ,
    failures INTEGER NOT NULL,
    next_action_at TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS subscriptions_due ON subscriptions (next_action_at)
    WHERE next_action_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS payment_methods (
    id TEXT PRIMARY KEY,
    member_id TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    brand TEXT NOT NULL,
    last4 TEXT NOT NULL,
    exp_month INTEGER NOT NULL,
    exp_year INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS trials (
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    member_id TEXT NOT NULL,
    at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (kind, value)
);
CREATE TABLE IF NOT EXISTS invoices (
    id TEXT PRIMARY KEY,
    subscription_id TEXT NOT NULL REFERENCES subscriptions (id),
    member_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    plan TEXT NOT NULL,
    period_start TIMESTAMPTZ NOT NULL,
    period_end TIMESTAMPTZ NOT NULL,
    amount BIGINT NOT NULL CHECK (amount > 0),
    currency TEXT NOT NULL,
    status TEXT NOT NULL,
    issued_at TIMESTAMPTZ NOT NULL,
    refunded BIGINT NOT NULL CHECK (refunded >= 0 AND refunded <= amount),
    paid_at TIMESTAMPTZ,
    voided_at TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS invoices_member ON invoices (member_id, issued_at);
CREATE UNIQUE INDEX IF NOT EXISTS invoices_one_renewal_a_period
    ON invoices (subscription_id, period_start) WHERE kind = 'renewal' AND status <> 'void';
CREATE TABLE IF NOT EXISTS attempts (
    id TEXT PRIMARY KEY,
    invoice_id TEXT NOT NULL REFERENCES invoices (id),
    subscription_id TEXT NOT NULL,
    member_id TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    payment_method_id TEXT NOT NULL,
    amount BIGINT NOT NULL CHECK (amount > 0),
    currency TEXT NOT NULL,
    initiator TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    decline_code TEXT NOT NULL,
    charge_id TEXT NOT NULL,
    decided_at TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS attempts_invoice ON attempts (invoice_id);
CREATE UNIQUE INDEX IF NOT EXISTS attempts_one_unresolved_an_invoice ON attempts (invoice_id)
    WHERE status IN ('pending', 'requires_action');
CREATE INDEX IF NOT EXISTS attempts_pending ON attempts (created_at) WHERE status = 'pending';
CREATE TABLE IF NOT EXISTS refunds (
    id TEXT PRIMARY KEY,
    invoice_id TEXT NOT NULL REFERENCES invoices (id),
    attempt_id TEXT NOT NULL,
    charge_id TEXT NOT NULL,
    member_id TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    amount BIGINT NOT NULL CHECK (amount > 0),
    currency TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    decided_at TIMESTAMPTZ
);
CREATE UNIQUE INDEX IF NOT EXISTS refunds_one_pending_an_invoice ON refunds (invoice_id)
    WHERE status = 'pending';
CREATE TABLE IF NOT EXISTS request_keys (
    member_id TEXT NOT NULL,
    key TEXT NOT NULL,
    operation TEXT NOT NULL,
    body_hash TEXT NOT NULL,
    attempt_id TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (member_id, key)
);
CREATE TABLE IF NOT EXISTS ledger_postings (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    ref TEXT NOT NULL,
    member_id TEXT NOT NULL,
    currency TEXT NOT NULL,
    at TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS ledger_entries (
    id BIGSERIAL PRIMARY KEY,
    posting_id TEXT NOT NULL REFERENCES ledger_postings (id),
    account TEXT NOT NULL,
    amount BIGINT NOT NULL CHECK (amount <> 0)
);
CREATE INDEX IF NOT EXISTS ledger_entries_posting ON ledger_entries (posting_id);
CREATE INDEX IF NOT EXISTS ledger_entries_account ON ledger_entries (account);
CREATE TABLE IF NOT EXISTS outbox (
    id BIGSERIAL PRIMARY KEY,
    type TEXT NOT NULL,
    payload JSONB NOT NULL,
    published_at TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS outbox_unpublished ON outbox (id) WHERE published_at IS NULL;

CREATE OR REPLACE FUNCTION ledger_posting_balances() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT sum(amount) FROM ledger_entries WHERE posting_id = NEW.posting_id) <> 0 THEN
        RAISE EXCEPTION 'ledger posting % does not balance', NEW.posting_id;
    END IF;
    RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION ledger_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only: % on % refused', TG_OP, TG_TABLE_NAME;
END $$;
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'ledger_entries_balance') THEN
        CREATE CONSTRAINT TRIGGER ledger_entries_balance AFTER INSERT ON ledger_entries
            DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_posting_balances();
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'ledger_entries_frozen') THEN
        CREATE TRIGGER ledger_entries_frozen BEFORE UPDATE OR DELETE ON ledger_entries
            FOR EACH ROW EXECUTE FUNCTION ledger_is_append_only();
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'ledger_postings_frozen') THEN
        CREATE TRIGGER ledger_postings_frozen BEFORE UPDATE OR DELETE ON ledger_postings
            FOR EACH ROW EXECUTE FUNCTION ledger_is_append_only();
    END IF;
END $$;
