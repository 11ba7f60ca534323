"""RFC 8071 call home: which managers to dial, in what order, and the connections."""
