"""18.0.1.1.0: the payment method's agent is the one stored choice of cloud mode.

Before, a "Use on-site agent" flag sat beside the agent; a method with the flag off but an
agent left selected was in direct mode. Clear such agents so that it stays in direct mode.
"""


def migrate(cr, version):
    cr.execute("""SELECT 1 FROM information_schema.columns
                   WHERE table_name = 'pos_payment_method' AND column_name = 'cashkeeper_use_agent'""")
    if cr.fetchone():
        cr.execute("""UPDATE pos_payment_method SET cashkeeper_agent_id = NULL
                       WHERE cashkeeper_agent_id IS NOT NULL AND cashkeeper_use_agent IS NOT TRUE""")
        cr.execute("ALTER TABLE pos_payment_method DROP COLUMN cashkeeper_use_agent")
