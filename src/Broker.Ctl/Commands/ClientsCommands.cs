using System.CommandLine;
using System.Globalization;
using System.Text;

namespace Broker.Ctl;

/// <summary><c>ctl clients list|show|kick</c> (EMQX's <c>emqx_ctl clients</c>).</summary>
internal static class ClientsCommands
{
    private static readonly TextTable.Column[] Columns =
    [
        TextTable.Field("CLIENT ID", "clientid"),
        TextTable.Field("USERNAME", "username"),
        new("ADDRESS", row => TextTable.Text(row, "ip_address") == "-" ? "-" : TextTable.Text(row, "ip_address") + ":" + TextTable.Text(row, "port")),
        new("PROTO", row => "v" + TextTable.Text(row, "proto_ver")),
        new("STATE", row => TextTable.Text(row, "connected") == "true" ? "connected" : "offline"),
        new("STORED", row => TextTable.Text(row, "persisted") == "true" ? "yes" : "-"),
        TextTable.Field("KEEPALIVE", "keepalive"),
        TextTable.Field("SUBS", "subscriptions_cnt"),
        TextTable.Field("INFLIGHT", "inflight"),
        TextTable.Field("QUEUED", "mqueue_len"),
        TextTable.Field("CONNECTED AT (UTC)", "connected_at"),
        TextTable.Field("NODE", "node"),
    ];

    public static Command Build() => new("clients", "List, show and kick clients (every session, connected or not)")
    {
        List(),
        Show(),
        Kick(),
    };

    private static Command List()
    {
        var username = new Option<string?>("--username") { Description = "Only clients that connected with this user name", HelpName = "NAME" };
        var page = new Option<int>("--page") { Description = "Page to show, from 1", DefaultValueFactory = _ => 1, HelpName = "N" };
        var limit = new Option<int>("--limit") { Description = "Clients per page, 1 to 10000", DefaultValueFactory = _ => 10000, HelpName = "N" };
        var command = new Command("list", "List clients: id, user name, address, protocol version, state, subscriptions, in-flight and queued messages, and whether the session is in the persistence store (STORED)") { username, page, limit };
        CtlCommands.SetAction(command, async (ctl, parse, ct) =>
        {
            var query = new StringBuilder("api/v4/clients?_page=")
                .Append(parse.GetValue(page).ToString(CultureInfo.InvariantCulture))
                .Append("&_limit=").Append(parse.GetValue(limit).ToString(CultureInfo.InvariantCulture));
            if (parse.GetValue(username) is { } user)
                query.Append("&username=").Append(Uri.EscapeDataString(user));
            using var answer = await ctl.Client.GetAsync(query.ToString(), ct).ConfigureAwait(false);
            if (ctl.PrintedJson(answer))
                return;
            TextTable.Write(ctl.Out, Columns, answer.RootElement.GetProperty("data"));
            ctl.Out.WriteLine(TextTable.Count(answer.RootElement, "client"));
        });
        return command;
    }

    private static Command Show()
    {
        var id = new Argument<string>("clientid") { Description = "The client id" };
        var command = new Command("show", "Show everything known about one client; exit 1 when there is no such client") { id };
        CtlCommands.SetAction(command, async (ctl, parse, ct) =>
        {
            using var answer = await ctl.Client.GetAsync("api/v4/clients/" + ManagementClient.Segment(parse.GetValue(id)!), ct).ConfigureAwait(false);
            if (!ctl.PrintedJson(answer))
                TextTable.WriteObject(ctl.Out, BrokerCommands.First(answer));
        });
        return command;
    }

    private static Command Kick()
    {
        var id = new Argument<string>("clientid") { Description = "The client id" };
        var command = new Command("kick", "Disconnect a client (MQTT 5 clients get DISCONNECT 0x98 Administrative action) and discard its session; exit 1 when there is no such client") { id };
        CtlCommands.SetAction(command, async (ctl, parse, ct) =>
        {
            var clientId = parse.GetValue(id)!;
            using var answer = await ctl.Client.DeleteAsync("api/v4/clients/" + ManagementClient.Segment(clientId), ct).ConfigureAwait(false);
            if (!ctl.PrintedJson(answer))
                ctl.Out.WriteLine($"Kicked client {clientId}");
        });
        return command;
    }
}
