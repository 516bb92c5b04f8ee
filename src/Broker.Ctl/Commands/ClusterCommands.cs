using System.CommandLine;
using System.Text.Json;

namespace Broker.Ctl;

/// <summary><c>ctl cluster status</c> (EMQX's <c>emqx_ctl cluster status</c>), from <c>GET /api/v5/nodes</c>.</summary>
internal static class ClusterCommands
{
    private static readonly TextTable.Column[] Columns =
    [
        new("NODE", row => TextTable.Text(row, "node") + (row.TryGetProperty("self", out var self) && self.ValueKind == JsonValueKind.True ? " (this)" : "")),
        TextTable.Field("STATUS", "node_status"),
        TextTable.Field("UPTIME", "uptime"),
        TextTable.Field("CONNECTIONS", "connections"),
        TextTable.Field("ROUTES", "routes"),
        TextTable.Field("FORWARDED", "forwarded_to"),
        new("LAST SEEN", row => row.TryGetProperty("last_seen_ms", out var ms) && ms.ValueKind == JsonValueKind.Number ? ms.GetRawText() + " ms ago" : "-"),
    ];

    public static Command Build() => new("cluster", "The cluster this node belongs to (cluster.* in broker.conf)")
    {
        Status(),
    };

    private static Command Status()
    {
        var command = new Command("status", "The nodes this node knows, running or down, with their uptime, connections and routes, and whether this node's NATS connection is open");
        CtlCommands.SetAction(command, async (ctl, parse, ct) =>
        {
            using var answer = await ctl.Client.GetAsync("api/v5/nodes", ct).ConfigureAwait(false);
            if (ctl.PrintedJson(answer))
                return;
            var nodes = answer.RootElement.GetProperty("data");
            foreach (var node in nodes.EnumerateArray())
            {
                if (!node.TryGetProperty("self", out var self) || self.ValueKind != JsonValueKind.True)
                    continue;
                if (node.TryGetProperty("cluster", out var cluster) && cluster.ValueKind == JsonValueKind.String)
                {
                    var nats = node.TryGetProperty("nats_connected", out var connected) && connected.ValueKind == JsonValueKind.True
                        ? "connected to " + TextTable.Text(node, "nats_server")
                        : "NOT connected (serving this node's clients alone; retrying)";
                    ctl.Out.WriteLine($"Cluster {cluster.GetString()}: NATS {nats}; received from other nodes: {TextTable.Text(node, "forwarded_in")}, dropped: {TextTable.Text(node, "forward_dropped")}");
                }
                else
                {
                    ctl.Out.WriteLine("Cluster: off (cluster.enable = off): a single node");
                }
            }
            TextTable.Write(ctl.Out, Columns, nodes);
        });
        return command;
    }
}
