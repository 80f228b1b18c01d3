# JSON-RPC endpoints the POS calls to start and follow drawer payments live here.
