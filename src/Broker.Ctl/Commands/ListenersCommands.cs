using System.CommandLine;
using System.Text.Json;

namespace Broker.Ctl;

/// <summary><c>ctl listeners list|stop|restart</c> (EMQX 4's <c>emqx_ctl listeners</c>).</summary>
internal static class ListenersCommands
{
    private static readonly TextTable.Column[] Columns =
    [
        TextTable.Field("ID", "identifier"),
        TextTable.Field("PROTOCOL", "protocol"),
        TextTable.Field("LISTEN ON", "listen_on"),
        new("RUNNING", row => TextTable.Text(row, "running") == "true" ? "yes" : "no"),
        TextTable.Field("CONNECTIONS", "current_conns"),
        TextTable.Field("MAX", "max_conns"),
        new("SHUTDOWN", ShutdownCounts),
    ];

    public static Command Build() => new("listeners", "List the MQTT listeners (tcp, ssl, ws, wss) and stop or restart one while the broker runs")
    {
        List(),
        Action("stop", "Close a listener's socket and disconnect its clients (MQTT 5 clients get DISCONNECT 0x8B); other listeners and the management API keep running; exit 1 if it is unknown or already stopped", "stopped"),
        Action("restart", "Stop a listener (if running) and open it again with the same settings and address; exit 1 if it is unknown or its address cannot be bound", "restarted"),
    };

    private static Command List()
    {
        var command = new Command("list", "List every enabled MQTT listener: identifier, protocol, address, whether it runs, open connections, max_connections, and connections the broker closed by cause");
        CtlCommands.SetAction(command, async (ctl, parse, ct) =>
        {
            using var answer = await ctl.Client.GetAsync("api/v4/listeners", ct).ConfigureAwait(false);
            if (ctl.PrintedJson(answer))
                return;
            foreach (var node in answer.RootElement.GetProperty("data").EnumerateArray())
                TextTable.Write(ctl.Out, Columns, node.GetProperty("listeners"));
        });
        return command;
    }

    private static Command Action(string verb, string description, string done)
    {
        var id = new Argument<string>("id") { Description = "The listener's identifier as `listeners list` shows it: mqtt:<kind>:<name>, e.g. mqtt:tcp:external, mqtt:ssl:external, mqtt:tcp:internal" };
        var command = new Command(verb, description) { id };
        CtlCommands.SetAction(command, async (ctl, parse, ct) =>
        {
            var identifier = parse.GetValue(id)!;
            using var answer = await ctl.Client.PutAsync($"api/v4/listeners/{ManagementClient.Segment(identifier)}/{verb}", null, ct).ConfigureAwait(false);
            if (!ctl.PrintedJson(answer))
                ctl.Out.WriteLine($"Listener {identifier} {done}");
        });
        return command;
    }

    private static string ShutdownCounts(JsonElement row)
    {
        if (!row.TryGetProperty("shutdown_count", out var counts) || counts.ValueKind != JsonValueKind.Object)
            return "";
        var parts = new List<string>();
        foreach (var count in counts.EnumerateObject())
        {
            if (count.Value.ValueKind == JsonValueKind.Number && count.Value.GetInt64() > 0)
                parts.Add($"{count.Name}={count.Value.GetInt64()}");
        }
        return string.Join(' ', parts);
    }
}
