using Broker.Bench;

// bench: an MQTT load generator (bench/README.md). Usage errors print help and exit 2.
var parsed = BenchCommands.BuildRoot().Parse(args);
var code = await parsed.InvokeAsync().ConfigureAwait(false);
return parsed.Errors.Count > 0 ? 2 : code;
