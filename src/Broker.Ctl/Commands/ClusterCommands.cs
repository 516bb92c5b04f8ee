using System.CommandLine;
using System.Text.Json;

namespace Broker.Ctl;

/// <summary>
/// <c>ctl cluster status|join|leave|force-leave</c> (EMQX's <c>emqx_ctl cluster</c>), from <c>GET /api/v5/nodes</c> and
/// <c>POST /api/v5/cluster/join|leave</c>, <c>DELETE /api/v5/cluster/{node}/force_leave</c>.
/// </summary>
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

    public static Command Build() => new("cluster", "The cluster this node belongs to (cluster.* in broker.conf; ctl cluster join/leave keep their choice in data/cluster.state)")
    {
        Status(),
        Join(),
        Leave(),
        ForceLeave(),
    };

    private static Command Join()
    {
        var url = new Argument<string>("nats-url") { Description = "A NATS server of the cluster to join, nats://host:port (or several, comma-separated)" };
        var command = new Command("join", "Connect this node to the NATS at <nats-url> and join the cluster there (cluster.name as in broker.conf), leaving the one it is in; kept across restarts in data/cluster.state. Exit 1 if NATS cannot be reached, the URL is bad or this node is already joined there") { url };
        CtlCommands.SetAction(command, async (ctl, parse, ct) =>
        {
            var body = ManagementClient.JsonObject(json => json.WriteString("nats", parse.GetValue(url)));
            using var answer = await ctl.Client.PostAsync("api/v5/cluster/join", body, ct).ConfigureAwait(false);
            WriteChange(ctl, answer);
        });
        return command;
    }

    private static Command Leave()
    {
        var command = new Command("leave", "Take this node out of its cluster: the others are told, it disconnects from NATS and serves its own clients alone, across restarts, until ctl cluster join. Exit 1 if it is not in a cluster");
        CtlCommands.SetAction(command, async (ctl, parse, ct) =>
        {
            using var answer = await ctl.Client.PostAsync("api/v5/cluster/leave", null, ct).ConfigureAwait(false);
            WriteChange(ctl, answer);
        });
        return command;
    }

    private static Command ForceLeave()
    {
        var node = new Argument<string>("node") { Description = "The node to remove, as ctl cluster status names it" };
        var command = new Command("force-leave", "Remove another node, down or running, from the cluster: every node forgets it and withdraws its routes; a running one is told to leave (as ctl cluster leave). Exit 1 for an unknown node or this node") { node };
        CtlCommands.SetAction(command, async (ctl, parse, ct) =>
        {
            using var answer = await ctl.Client.DeleteAsync("api/v5/cluster/" + ManagementClient.Segment(parse.GetValue(node)!) + "/force_leave", ct).ConfigureAwait(false);
            WriteChange(ctl, answer);
        });
        return command;
    }

    private static void WriteChange(CtlContext ctl, JsonDocument answer)
    {
        if (!ctl.PrintedJson(answer))
            ctl.Out.WriteLine(TextTable.Text(answer.RootElement.GetProperty("data"), "message"));
    }

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
                        : node.TryGetProperty("nats_error", out var error) && error.ValueKind == JsonValueKind.String
                            ? $"NOT connected ({error.GetString()}; serving this node's clients alone; retrying)"
                            : "NOT connected (serving this node's clients alone; retrying)";
                    ctl.Out.WriteLine($"Cluster {cluster.GetString()}: NATS {nats}; received from other nodes: {TextTable.Text(node, "forwarded_in")}, dropped: {TextTable.Text(node, "forward_dropped")}, PUBACKed without the receiver's word: {TextTable.Text(node, "forward_released")}; session copies not yet written: {TextTable.Text(node, "session_copies_pending")}");
                }
                else if (TextTable.Text(node, "membership") == "left")
                {
                    ctl.Out.WriteLine("Cluster: none: this node left its cluster (data/cluster.state) and serves its own clients alone; ctl cluster join <nats-url> to join");
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
