using System.CommandLine;
using System.Text.Json;

namespace Broker.Ctl;

/// <summary><c>ctl plugins list|load|unload|reload</c> (EMQX's <c>emqx_ctl plugins</c>).</summary>
internal static class PluginsCommands
{
    private static readonly TextTable.Column[] Columns =
    [
        TextTable.Field("NAME", "name"),
        TextTable.Field("VERSION", "version"),
        TextTable.Field("STATE", "state"),
        new("BOOT", row => TextTable.Text(row, "boot") == "true" ? "yes" : "no"),
        TextTable.Field("HOOK CALLS", "hook_calls"),
        new("HOOK TIME", row => row.TryGetProperty("hook_time_ms", out var ms) ? $"{ms.GetDouble().ToString("0.###", System.Globalization.CultureInfo.InvariantCulture)}ms" : ""),
        TextTable.Field("HOOK FAILURES", "hook_failures"),
        TextTable.Field("DESCRIPTION", "description"),
        TextTable.Field("REASON", "reason"),
    ];

    public static Command Build() => new("plugins", "List plugins and load, unload or reload them while the broker runs")
    {
        List(),
        Action("load", "Load and start a plugin from the plugins directory and add it to data/loaded_plugins (started at boot), on every node of the cluster unless --node; exit 1 if it is unknown, already loaded, its .conf is bad (file:line:key) or its start fails", "loaded"),
        Action("unload", "Stop and unload a plugin, remove every hook it registered, and remove it from data/loaded_plugins, on every node unless --node; exit 1 if it is unknown or not loaded", "unloaded"),
        Action("reload", "Start a new instance of a running plugin (its .conf and assemblies read again) before stopping the old one, on every node unless --node; exit 1 if it is unknown, not loaded, or the new instance fails (the old one keeps running)", "reloaded"),
    };

    private static Command List()
    {
        var command = new Command("list", "List every plugin of the plugins directory: name, version, state (running, stopped, failed, unloading, leaking), whether it starts at boot, its hook calls on connection threads and the time they took there, hook failures, and why it failed");
        CtlCommands.SetAction(command, async (ctl, parse, ct) =>
        {
            using var answer = await ctl.Client.GetAsync("api/v4/plugins", ct).ConfigureAwait(false);
            if (ctl.PrintedJson(answer))
                return;
            var data = answer.RootElement.GetProperty("data");
            TextTable.Write(ctl.Out, Columns, data);
        });
        return command;
    }

    private static Command Action(string verb, string description, string done)
    {
        var name = new Argument<string>("name") { Description = "The plugin's name, as in plugins/<name>/ and data/loaded_plugins" };
        var node = new Option<string?>("--node")
        {
            Description = "Only on this node of the cluster (its node.name); without it, on every node (a failure on some is a warning, on all an error)",
            HelpName = "NODE",
        };
        var command = new Command(verb, description) { name, node };
        CtlCommands.SetAction(command, async (ctl, parse, ct) =>
        {
            var plugin = parse.GetValue(name)!;
            var path = parse.GetValue(node) is { } one
                ? $"api/v4/nodes/{ManagementClient.Segment(one)}/plugins/{ManagementClient.Segment(plugin)}/{verb}"
                : $"api/v4/plugins/{ManagementClient.Segment(plugin)}/{verb}";
            using var answer = await ctl.Client.PutAsync(path, null, ct).ConfigureAwait(false);
            if (ctl.PrintedJson(answer))
                return;
            // Where it was done: every node that answered with the plugin (one line for a single node, as before).
            var nodes = answer.RootElement.TryGetProperty("data", out var data) && data.ValueKind == JsonValueKind.Array
                ? data.EnumerateArray().Select(p => p.TryGetProperty("node", out var n) ? n.GetString() : null).OfType<string>().ToList()
                : [];
            ctl.Out.WriteLine(nodes.Count > 1 ? $"Plugin {plugin} {done} on {string.Join(", ", nodes)}" : $"Plugin {plugin} {done}");
        });
        return command;
    }
}
