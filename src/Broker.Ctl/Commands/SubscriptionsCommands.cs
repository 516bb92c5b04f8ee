using System.CommandLine;

namespace Broker.Ctl;

/// <summary><c>ctl subscriptions list [clientid]</c> (EMQX's <c>emqx_ctl subscriptions</c>).</summary>
internal static class SubscriptionsCommands
{
    private static readonly TextTable.Column[] Columns =
    [
        TextTable.Field("CLIENT ID", "clientid"),
        TextTable.Field("TOPIC FILTER", "topic"),
        TextTable.Field("QOS", "qos"),
        new("OPTIONS", row => string.Join(',', new[]
        {
            TextTable.Text(row, "nl") == "true" ? "no-local" : null,
            TextTable.Text(row, "rap") == "true" ? "retain-as-published" : null,
            TextTable.Text(row, "rh") is "1" ? "retain-handling=1" : TextTable.Text(row, "rh") is "2" ? "retain-handling=2" : null,
        }.Where(o => o is not null)) is { Length: > 0 } options ? options : "-"),
    ];

    public static Command Build() => new("subscriptions", "List subscriptions")
    {
        List(),
    };

    private static Command List()
    {
        var id = new Argument<string?>("clientid") { Description = "Only this client's subscriptions", Arity = ArgumentArity.ZeroOrOne };
        var command = new Command("list", "List subscriptions (shared ones as $share/<group>/<filter>): client id, topic filter, QoS, MQTT 5 options") { id };
        CtlCommands.SetAction(command, async (ctl, parse, ct) =>
        {
            var clientId = parse.GetValue(id);
            var path = clientId is null ? "api/v4/subscriptions" : "api/v4/subscriptions/" + ManagementClient.Segment(clientId);
            using var answer = await ctl.Client.GetAsync(path, ct).ConfigureAwait(false);
            if (ctl.PrintedJson(answer))
                return;
            TextTable.Write(ctl.Out, Columns, answer.RootElement.GetProperty("data"));
            ctl.Out.WriteLine(TextTable.Count(answer.RootElement, "subscription"));
        });
        return command;
    }
}
