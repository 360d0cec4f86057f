console.error("gantry: not implemented yet"); process.exit(2);
