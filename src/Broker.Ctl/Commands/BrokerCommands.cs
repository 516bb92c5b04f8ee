using System.CommandLine;
using System.Text.Json;

namespace Broker.Ctl;

/// <summary><c>ctl broker [stats|metrics]</c> (EMQX's <c>emqx_ctl broker</c>).</summary>
internal static class BrokerCommands
{
    public static Command Build()
    {
        var broker = new Command("broker", "Show the broker's identity: node, version, uptime, date/time, description; see the subcommands for statistics")
        {
            Stats(),
            Metrics(),
        };
        CtlCommands.SetAction(broker, async (ctl, _, ct) =>
        {
            using var answer = await ctl.Client.GetAsync("api/v4/brokers", ct).ConfigureAwait(false);
            if (!ctl.PrintedJson(answer))
                TextTable.WriteObject(ctl.Out, answer.RootElement.GetProperty("data")[0]);
        });
        return broker;
    }

    private static Command Stats()
    {
        var command = new Command("stats", "Show current gauges: connections, sessions, subscriptions, topics, retained messages (and their peaks)");
        CtlCommands.SetAction(command, (ctl, _, ct) => WriteNodeMapAsync(ctl, "api/v4/stats", "stats", ct));
        return command;
    }

    private static Command Metrics()
    {
        var command = new Command("metrics", "Show counters since start: bytes, packets and messages received, sent and dropped");
        CtlCommands.SetAction(command, (ctl, _, ct) => WriteNodeMapAsync(ctl, "api/v4/metrics", "metrics", ct));
        return command;
    }

    /// <summary>The answer holds one entry per node with a name-to-number map; printed as two aligned columns.</summary>
    private static async Task WriteNodeMapAsync(CtlContext ctl, string path, string property, CancellationToken ct)
    {
        using var answer = await ctl.Client.GetAsync(path, ct).ConfigureAwait(false);
        if (ctl.PrintedJson(answer))
            return;
        var nodes = answer.RootElement.GetProperty("data");
        foreach (var node in nodes.EnumerateArray())
        {
            // In a cluster, one block per node, each under its name.
            if (nodes.GetArrayLength() > 1)
                ctl.Out.WriteLine($"== {TextTable.Text(node, "node")} ==");
            var values = node.GetProperty(property);
            var width = values.EnumerateObject().Select(p => p.Name.Length).DefaultIfEmpty(0).Max();
            foreach (var entry in values.EnumerateObject())
                ctl.Out.WriteLine(entry.Name.PadRight(width) + " : " + TextTable.Text(entry.Value));
        }
    }

    internal static JsonElement First(JsonDocument answer) => answer.RootElement.GetProperty("data")[0];
}
