console.error("gantry-runtime: not implemented yet"); process.exit(2);
