using System.CommandLine;
using System.Text.Json;

namespace Broker.Ctl;

/// <summary>
/// <c>ctl admins list|add|passwd|del</c> (EMQX 4's <c>emqx_ctl admins</c>): the dashboard's users, through the endpoints
/// the dashboard plugin adds to the management API (<c>/api/v4/plugins/dashboard/api/admins</c>).
/// </summary>
internal static class AdminsCommands
{
    private const string Path = "api/v4/plugins/dashboard/api/admins";

    private static readonly TextTable.Column[] Columns =
    [
        TextTable.Field("USER", "username"),
        TextTable.Field("DESCRIPTION", "description"),
        new("MUST CHANGE PASSWORD", row => row.TryGetProperty("must_change_password", out var m) && m.GetBoolean() ? "yes" : "no"),
    ];

    public static Command Build() => new("admins", "The dashboard's users (the dashboard plugin must be loaded): list, add, set a password, delete")
    {
        List(),
        Add(),
        Passwd(),
        Delete(),
    };

    private static Argument<string> User() => new("username") { Description = "The dashboard user" };

    private static Argument<string> Password() => new("password") { Description = "At least 8 characters" };

    private static Command List()
    {
        var command = new Command("list", "List the dashboard's users");
        CtlCommands.SetAction(command, async (ctl, parse, ct) =>
        {
            using var answer = await SendAsync(ctl, HttpMethod.Get, Path, null, ct).ConfigureAwait(false);
            if (ctl.PrintedJson(answer))
                return;
            TextTable.Write(ctl.Out, Columns, answer.RootElement.GetProperty("data"));
            ctl.Out.WriteLine(TextTable.Count(answer.RootElement, "user"));
        });
        return command;
    }

    private static Command Add()
    {
        var user = User();
        var password = Password();
        var description = new Argument<string?>("description") { Description = "What the user is for", Arity = ArgumentArity.ZeroOrOne };
        var command = new Command("add", "Add a dashboard user; exit 1 when the name is taken") { user, password, description };
        CtlCommands.SetAction(command, async (ctl, parse, ct) =>
        {
            var body = Body(("username", parse.GetValue(user)!), ("password", parse.GetValue(password)!), ("description", parse.GetValue(description) ?? ""));
            using var answer = await SendAsync(ctl, HttpMethod.Post, Path, body, ct).ConfigureAwait(false);
            if (!ctl.PrintedJson(answer))
                ctl.Out.WriteLine($"Added dashboard user {parse.GetValue(user)}");
        });
        return command;
    }

    private static Command Passwd()
    {
        var user = User();
        var password = Password();
        var command = new Command("passwd", "Set a dashboard user's password (their browsers sign in again)") { user, password };
        CtlCommands.SetAction(command, async (ctl, parse, ct) =>
        {
            var name = parse.GetValue(user)!;
            using var answer = await SendAsync(ctl, HttpMethod.Put, $"{Path}/{ManagementClient.Segment(name)}", Body(("password", parse.GetValue(password)!)), ct).ConfigureAwait(false);
            if (!ctl.PrintedJson(answer))
                ctl.Out.WriteLine($"Changed the password of dashboard user {name}");
        });
        return command;
    }

    private static Command Delete()
    {
        var user = User();
        var command = new Command("del", "Delete a dashboard user (not the last one)") { user };
        CtlCommands.SetAction(command, async (ctl, parse, ct) =>
        {
            var name = parse.GetValue(user)!;
            using var answer = await SendAsync(ctl, HttpMethod.Delete, $"{Path}/{ManagementClient.Segment(name)}", null, ct).ConfigureAwait(false);
            if (!ctl.PrintedJson(answer))
                ctl.Out.WriteLine($"Deleted dashboard user {name}");
        });
        return command;
    }

    private static Task<JsonDocument> SendAsync(CtlContext ctl, HttpMethod method, string path, string? body, CancellationToken ct) =>
        ManagementClient.OfPluginAsync("dashboard", () => ctl.Client.SendAsync(method, path, body, ct));

    private static string Body(params (string Name, string Value)[] fields) => ManagementClient.JsonObject(json =>
    {
        foreach (var (name, value) in fields)
            json.WriteString(name, value);
    });
}
