using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Broker.Ctl;

/// <summary><c>ctl subscriptions list|show|add|del</c> (EMQX's <c>emqx_ctl subscriptions</c>).</summary>
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
        TextTable.Field("NODE", "node"),
    ];

    public static Command Build() => new("subscriptions", "List, show, add and delete subscriptions of sessions (connected or persistent)")
    {
        List(),
        Show(),
        Add(),
        Delete(),
    };

    private static Argument<string> ClientId(string description) => new("clientid") { Description = description };

    private static Argument<string> Topic(string description) => new("topic") { Description = description };

    private static Command List()
    {
        var id = new Argument<string?>("clientid") { Description = "Only this client's subscriptions", Arity = ArgumentArity.ZeroOrOne };
        var topic = new Option<string?>("--topic") { Description = "Only subscriptions to exactly this filter (as subscribed, $share/<group>/ included)", HelpName = "FILTER" };
        var match = new Option<string?>("--match-topic") { Description = "Only subscriptions whose filter matches this topic name (who would receive a message to it)", HelpName = "TOPIC" };
        var command = new Command("list", "List subscriptions (shared ones as $share/<group>/<filter>): client id, topic filter, QoS, MQTT 5 options") { id, topic, match };
        CtlCommands.SetAction(command, async (ctl, parse, ct) =>
        {
            var clientId = parse.GetValue(id);
            var path = new StringBuilder(clientId is null ? "api/v4/subscriptions" : "api/v4/subscriptions/" + ManagementClient.Segment(clientId));
            var separator = '?';
            foreach (var (name, value) in new[] { ("topic", parse.GetValue(topic)), ("_match_topic", parse.GetValue(match)) })
            {
                if (value is null)
                    continue;
                path.Append(separator).Append(name).Append('=').Append(Uri.EscapeDataString(value));
                separator = '&';
            }
            using var answer = await ctl.Client.GetAsync(path.ToString(), ct).ConfigureAwait(false);
            if (ctl.PrintedJson(answer))
                return;
            TextTable.Write(ctl.Out, Columns, answer.RootElement.GetProperty("data"));
            ctl.Out.WriteLine(TextTable.Count(answer.RootElement, "subscription"));
        });
        return command;
    }

    private static Command Show()
    {
        var id = ClientId("The client id");
        var command = new Command("show", "Show one client's subscriptions; exit 1 when there is no such client (list <clientid> prints an empty table instead)") { id };
        CtlCommands.SetAction(command, async (ctl, parse, ct) =>
        {
            var clientId = parse.GetValue(id)!;
            // An unknown client has no subscriptions for the API; ask for the client first so the operator learns it does not exist.
            using (await ctl.Client.GetAsync("api/v4/clients/" + ManagementClient.Segment(clientId), ct).ConfigureAwait(false))
            {
            }
            using var answer = await ctl.Client.GetAsync("api/v4/subscriptions/" + ManagementClient.Segment(clientId), ct).ConfigureAwait(false);
            if (ctl.PrintedJson(answer))
                return;
            TextTable.Write(ctl.Out, Columns, answer.RootElement.GetProperty("data"));
            ctl.Out.WriteLine(TextTable.Count(answer.RootElement, "subscription"));
        });
        return command;
    }

    private static Command Add()
    {
        var id = ClientId("The client id of an existing session (connected, or persistent and offline)");
        var topic = Topic("The topic filter; $share/<group>/<filter> for a shared subscription");
        var qos = new Option<int>("--qos", "-q") { Description = "Maximum QoS of the subscription: 0, 1 or 2", DefaultValueFactory = _ => 0, HelpName = "N" };
        qos.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int>() is < 0 or > 2)
                result.AddError("--qos must be 0, 1 or 2");
        });
        var command = new Command("add", "Subscribe a client's session to a topic filter, as if the client had sent SUBSCRIBE (retained messages are delivered); exit 1 when there is no such client or the filter is invalid") { id, topic, qos };
        CtlCommands.SetAction(command, async (ctl, parse, ct) =>
        {
            var clientId = parse.GetValue(id)!;
            var filter = parse.GetValue(topic)!;
            var level = parse.GetValue(qos);
            using var answer = await ctl.Client.PostAsync("api/v4/mqtt/subscribe", SubscribeBody(clientId, filter, level), ct).ConfigureAwait(false);
            if (!ctl.PrintedJson(answer))
                ctl.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Subscribed {clientId} to {filter} (QoS {level})"));
        });
        return command;
    }

    private static Command Delete()
    {
        var id = ClientId("The client id");
        var topic = Topic("The topic filter exactly as subscribed ($share/<group>/ included)");
        var command = new Command("del", "Unsubscribe a client's session from a topic filter; exit 1 when there is no such client or subscription") { id, topic };
        CtlCommands.SetAction(command, async (ctl, parse, ct) =>
        {
            var clientId = parse.GetValue(id)!;
            var filter = parse.GetValue(topic)!;
            using var answer = await ctl.Client.PostAsync("api/v4/mqtt/unsubscribe", SubscribeBody(clientId, filter, qos: null), ct).ConfigureAwait(false);
            if (!ctl.PrintedJson(answer))
                ctl.Out.WriteLine($"Unsubscribed {clientId} from {filter}");
        });
        return command;
    }

    /// <summary>The JSON body of <c>/mqtt/subscribe</c> (with QoS) and <c>/mqtt/unsubscribe</c> (without).</summary>
    internal static string SubscribeBody(string clientId, string topic, int? qos) => ManagementClient.JsonObject(json =>
    {
        json.WriteString("clientid", clientId);
        json.WriteString("topic", topic);
        if (qos is { } level)
            json.WriteNumber("qos", level);
    });
}
