using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Broker.Ctl;

/// <summary><c>ctl alarms list [--all]</c>: every node's alarms (EMQX 4's <c>/api/v4/alarms</c>), such as high_memory_usage, each with its node.</summary>
internal static class AlarmsCommands
{
    private static readonly TextTable.Column[] Columns =
    [
        TextTable.Field("NODE", "node"),
        TextTable.Field("NAME", "name"),
        new("STATE", row => TextTable.Text(row, "activated") == "true" ? "active" : "cleared"),
        new("ACTIVATED AT (UTC)", row => Time(row, "activate_at")),
        new("CLEARED AT (UTC)", row => Time(row, "deactivate_at")),
        new("DURATION", row => TextTable.Text(row, "duration") + " s"),
        TextTable.Field("MESSAGE", "message"),
    ];

    public static Command Build() => new("alarms", "The broker's alarms (high_memory_usage: overload_protection.high_watermark)")
    {
        List(),
    };

    private static Command List()
    {
        var all = new Option<bool>("--all") { Description = "Cleared alarms too (the last 100), after the active ones" };
        var command = new Command("list", "List the active alarms: name, state, when raised and cleared, message") { all };
        CtlCommands.SetAction(command, async (ctl, parse, ct) =>
        {
            using var answer = await ctl.Client.GetAsync(parse.GetValue(all) ? "api/v4/alarms" : "api/v4/alarms/activated", ct).ConfigureAwait(false);
            if (ctl.PrintedJson(answer))
                return;
            // One entry per node of the cluster; one row per alarm, naming its node.
            var rows = new JsonArray();
            foreach (var node in answer.RootElement.GetProperty("data").EnumerateArray())
            {
                foreach (var alarm in node.GetProperty("alarms").EnumerateArray())
                {
                    var row = JsonNode.Parse(alarm.GetRawText())!.AsObject();
                    row["node"] = node.GetProperty("node").GetString();
                    rows.Add(row);
                }
            }
            using var table = JsonDocument.Parse(rows.ToJsonString());
            var alarms = table.RootElement;
            TextTable.Write(ctl.Out, Columns, alarms);
            var count = alarms.GetArrayLength();
            ctl.Out.WriteLine(count == 1 ? "1 alarm" : $"{count.ToString(CultureInfo.InvariantCulture)} alarms");
        });
        return command;
    }

    private static string Time(JsonElement row, string property) =>
        row.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.Number
            ? DateTimeOffset.FromUnixTimeMilliseconds(value.GetInt64() / 1000).UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)
            : "-";
}
