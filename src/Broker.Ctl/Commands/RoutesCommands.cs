using System.CommandLine;
using System.Globalization;

namespace Broker.Ctl;

/// <summary><c>ctl routes list [--topic F]</c> (EMQX's <c>emqx_ctl routes</c>).</summary>
internal static class RoutesCommands
{
    private static readonly TextTable.Column[] Columns =
    [
        TextTable.Field("TOPIC FILTER", "topic"),
        TextTable.Field("NODE", "node"),
    ];

    public static Command Build() => new("routes", "List routes: the topic filters that have at least one subscriber (share prefix removed)")
    {
        List(),
    };

    private static Command List()
    {
        var topic = new Option<string?>("--topic") { Description = "Only this topic filter (exit 0 with an empty table when nobody subscribes to it)", HelpName = "FILTER" };
        var page = new Option<int>("--page") { Description = "Page to show, from 1", DefaultValueFactory = _ => 1, HelpName = "N" };
        var limit = new Option<int>("--limit") { Description = "Routes per page, 1 to 10000", DefaultValueFactory = _ => 10000, HelpName = "N" };
        var command = new Command("list", "List routes: topic filter and node, sorted by filter") { topic, page, limit };
        CtlCommands.SetAction(command, async (ctl, parse, ct) =>
        {
            var path = parse.GetValue(topic) is { } filter
                ? "api/v4/routes/" + ManagementClient.Segment(filter)
                : string.Create(CultureInfo.InvariantCulture, $"api/v4/routes?_page={parse.GetValue(page)}&_limit={parse.GetValue(limit)}");
            using var answer = await ctl.Client.GetAsync(path, ct).ConfigureAwait(false);
            if (ctl.PrintedJson(answer))
                return;
            TextTable.Write(ctl.Out, Columns, answer.RootElement.GetProperty("data"));
            ctl.Out.WriteLine(TextTable.Count(answer.RootElement, "route"));
        });
        return command;
    }
}
