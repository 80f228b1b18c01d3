// The Python test passes the control ports of the simulator (?ck_sim=PORT) and, in cloud mode,
// of the on-site agent (?ck_agent=PORT); a step plays the customer at the drawer, or stops and
// starts the agent, through that HTTP control (ckfast/simulator.py, tests/agent_process.py).
// Shared by the POS tours and the kiosk's (pos_self_order_cashkeeper).
export function control(param, what, command) {
    return {
        content: `${what}: ${command}`,
        trigger: "body",
        run: async () => {
            const port = new URLSearchParams(window.location.search).get(param);
            const response = await fetch(`http://127.0.0.1:${port}/?cmd=${command}`);
            if (!response.ok) {
                throw new Error(`${what} refused ${command}: ${await response.text()}`);
            }
        },
    };
}

export function drawer(command) {
    return control("ck_sim", "CashKeeper drawer", command);
}

export function agent(command) {
    return control("ck_agent", "CashKeeper agent", command);
}
