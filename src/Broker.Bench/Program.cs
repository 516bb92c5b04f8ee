using Broker.Bench;

// Socket completions run on .NET's epoll thread instead of hopping to a pool worker: one thread wake-up less per
// receive, so the generator adds less latency and CPU of its own (bench/README.md, "How it sends"). The runtime
// reads this variable when the first socket is used, so it must be set before anything else. An explicit value wins.
const string InlineCompletions = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";
if (Environment.GetEnvironmentVariable(InlineCompletions) is null)
    Environment.SetEnvironmentVariable(InlineCompletions, "1");

// bench: an MQTT load generator (bench/README.md). Usage errors print help and exit 2.
var parsed = BenchCommands.BuildRoot().Parse(args);
var code = await parsed.InvokeAsync().ConfigureAwait(false);
return parsed.Errors.Count > 0 ? 2 : code;
