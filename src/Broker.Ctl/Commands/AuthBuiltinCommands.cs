using System.CommandLine;
using System.Text;
using System.Text.Json;

namespace Broker.Ctl;

/// <summary>
/// <c>ctl users|clientids add|update|del|list|show</c>, <c>ctl users import</c> and <c>ctl acl rules add|del|list</c>:
/// the auth_builtin plugin's users and rules (EMQX 4's <c>emqx_ctl users|clientid|acl</c>) over its API,
/// <c>/api/v4/auth_username</c>, <c>/api/v4/auth_clientid</c> and <c>/api/v4/acl</c>. When the plugin is not loaded
/// those paths do not exist: the commands say so and how to load it.
/// </summary>
internal static class AuthBuiltinCommands
{

    private static readonly TextTable.Column[] RuleColumns =
    [
        new("LOGIN", row => row.TryGetProperty("username", out var u) ? $"username {u.GetString()}" : row.TryGetProperty("clientid", out var c) ? $"clientid {c.GetString()}" : "$all"),
        TextTable.Field("TOPIC", "topic"),
        TextTable.Field("ACTION", "action"),
        TextTable.Field("ACCESS", "access"),
    ];

    /// <summary><c>ctl users</c> (<paramref name="clientIds"/> false) or <c>ctl clientids</c>.</summary>
    public static Command Users(bool clientIds)
    {
        var (noun, path, field) = clientIds ? ("client id", "api/v4/auth_clientid", "clientid") : ("user", "api/v4/auth_username", "username");
        var command = new Command(clientIds ? "clientids" : "users", clientIds
            ? "Manage the auth_builtin plugin's clients authenticated by client id and password (EMQX 4's auth_clientid)"
            : "Manage the auth_builtin plugin's users (EMQX 4's auth_username): add, change, delete, list, import a mosquitto_passwd or etc/passwd file")
        {
            UserAdd(noun, path, field),
            UserUpdate(noun, path),
            UserDelete(noun, path),
            UserList(noun, path, field),
            UserShow(noun, path),
        };
        if (!clientIds)
            command.Add(Import());
        return command;
    }

    /// <summary><c>ctl acl rules</c>.</summary>
    public static Command Rules() => new("rules", "The auth_builtin plugin's ACL rules (EMQX 4's emqx_acl_mnesia): judged per client by its client id's rules, then its user name's, then $all's, each in the order added")
    {
        RuleAdd(),
        RuleDelete(),
        RuleList(),
    };

    private static Argument<string> Login(string noun) => new(noun == "user" ? "username" : "clientid") { Description = $"The {noun}" };

    private static Option<string?> PasswordOption() => new("--password", "-p")
    {
        Description = "The password (visible in `ps`); without it, the first line of stdin is read: echo secret | ctl users add alice",
        HelpName = "PASSWORD",
    };

    private static Command UserAdd(string noun, string path, string field)
    {
        var login = Login(noun);
        var password = PasswordOption();
        var superuser = new Option<bool>("--superuser") { Description = "Allowed every publish and subscribe, whatever the rules" };
        var command = new Command("add", $"Add a {noun} with a password (hashed as auth.builtin.password_hash says); exit 1 if it exists") { login, password, superuser };
        CtlCommands.SetAction(command, async (ctl, parse, ct) =>
        {
            var body = Json(json =>
            {
                json.WriteString(field, parse.GetValue(login));
                json.WriteString("password", parse.GetValue(password) ?? ReadPassword());
                json.WriteBoolean("is_superuser", parse.GetValue(superuser));
            });
            using var answer = await CallAsync(() => ctl.Client.PostAsync(path, body, ct)).ConfigureAwait(false);
            if (!ctl.PrintedJson(answer))
                ctl.Out.WriteLine($"Added {noun} {parse.GetValue(login)}");
        });
        return command;
    }

    private static Command UserUpdate(string noun, string path)
    {
        var login = Login(noun);
        var password = PasswordOption();
        var superuser = new Option<bool?>("--superuser") { Description = "true or false: make it a superuser or not (from its next CONNECT)", HelpName = "true|false" };
        var command = new Command("update", $"Change a {noun}'s password (given with --password, or read from stdin when --superuser is not given either) and/or superuser flag; exit 1 if there is no such {noun}")
        {
            login, password, superuser,
        };
        CtlCommands.SetAction(command, async (ctl, parse, ct) =>
        {
            var flag = parse.GetValue(superuser);
            var secret = parse.GetValue(password) ?? (flag is null ? ReadPassword() : null);
            var body = Json(json =>
            {
                if (secret is not null)
                    json.WriteString("password", secret);
                if (flag is { } value)
                    json.WriteBoolean("is_superuser", value);
            });
            using var answer = await CallAsync(() => ctl.Client.PutAsync($"{path}/{ManagementClient.Segment(parse.GetValue(login)!)}", body, ct)).ConfigureAwait(false);
            if (!ctl.PrintedJson(answer))
                ctl.Out.WriteLine($"Updated {noun} {parse.GetValue(login)}");
        });
        return command;
    }

    private static Command UserDelete(string noun, string path)
    {
        var login = Login(noun);
        var command = new Command("del", $"Delete a {noun} (a connected client stays connected: ctl clients kick); exit 1 if there is no such {noun}") { login };
        CtlCommands.SetAction(command, async (ctl, parse, ct) =>
        {
            using var answer = await CallAsync(() => ctl.Client.DeleteAsync($"{path}/{ManagementClient.Segment(parse.GetValue(login)!)}", ct)).ConfigureAwait(false);
            if (!ctl.PrintedJson(answer))
                ctl.Out.WriteLine($"Deleted {noun} {parse.GetValue(login)}");
        });
        return command;
    }

    private static Command UserList(string noun, string path, string field)
    {
        var command = new Command("list", $"List the {noun}s and whether each is a superuser");
        CtlCommands.SetAction(command, async (ctl, parse, ct) =>
        {
            using var answer = await CallAsync(() => ctl.Client.GetAsync(path, ct)).ConfigureAwait(false);
            if (ctl.PrintedJson(answer))
                return;
            TextTable.Write(ctl.Out, [TextTable.Field(field.ToUpperInvariant(), field), TextTable.Field("SUPERUSER", "is_superuser")], answer.RootElement.GetProperty("data"));
            ctl.Out.WriteLine(TextTable.Count(answer.RootElement, noun));
        });
        return command;
    }

    private static Command UserShow(string noun, string path)
    {
        var login = Login(noun);
        var command = new Command("show", $"Show a {noun} and whether it is a superuser; exit 1 if there is no such {noun}") { login };
        CtlCommands.SetAction(command, async (ctl, parse, ct) =>
        {
            using var answer = await CallAsync(() => ctl.Client.GetAsync($"{path}/{ManagementClient.Segment(parse.GetValue(login)!)}", ct)).ConfigureAwait(false);
            if (!ctl.PrintedJson(answer))
                TextTable.WriteObject(ctl.Out, answer.RootElement.GetProperty("data"));
        });
        return command;
    }

    private static Command Import()
    {
        var file = new Argument<FileInfo>("file") { Description = "A password file: user:hash lines, as mosquitto_passwd or `broker passwd` write them" };
        var format = new Option<string>("--format")
        {
            Description = "mosquitto ($7$ and $6$ hashes), passwd (etc/passwd's $pbkdf2-sha512$) or auto (any hash auth_builtin verifies)",
            DefaultValueFactory = _ => "auto",
            HelpName = "FORMAT",
        }.AcceptOnlyFromAmong("auto", "mosquitto", "passwd");
        var command = new Command("import", "Add the file's users, or replace their password if they exist (superuser flags are kept); the hashes are copied, so the passwords keep working. All or nothing: a bad line is reported (line number) and nothing is imported")
        {
            file, format,
        };
        CtlCommands.SetAction(command, async (ctl, parse, ct) =>
        {
            var path = parse.GetValue(file)!.FullName;
            string content;
            try
            {
                content = await File.ReadAllTextAsync(path, ct).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw new CtlException($"cannot read {path}: {ex.Message}");
            }
            var body = Json(json =>
            {
                json.WriteString("format", parse.GetValue(format));
                json.WriteString("content", content);
            });
            using var answer = await CallAsync(() => ctl.Client.PostAsync("api/v4/auth_username/import", body, ct)).ConfigureAwait(false);
            if (ctl.PrintedJson(answer))
                return;
            var data = answer.RootElement.GetProperty("data");
            ctl.Out.WriteLine($"Imported {path}: {TextTable.Text(data, "added")} user(s) added, {TextTable.Text(data, "updated")} updated");
        });
        return command;
    }

    /// <summary>--username U | --clientid C | --all, exactly one (for list: at most one).</summary>
    private static (Option<string?> Username, Option<string?> ClientId, Option<bool> All) Who(Command command, bool required)
    {
        var username = new Option<string?>("--username") { Description = "The rules about this user name", HelpName = "U" };
        var clientId = new Option<string?>("--clientid") { Description = "The rules about this client id", HelpName = "C" };
        var all = new Option<bool>("--all") { Description = "The rules about every client ($all)" };
        command.Add(username);
        command.Add(clientId);
        command.Add(all);
        command.Validators.Add(result =>
        {
            var given = (result.GetResult(username) is not null ? 1 : 0) + (result.GetResult(clientId) is not null ? 1 : 0) + (result.GetResult(all) is not null ? 1 : 0);
            if (given > 1 || (required && given == 0))
                result.AddError(required ? "give exactly one of --username, --clientid and --all" : "give at most one of --username, --clientid and --all");
        });
        return (username, clientId, all);
    }

    /// <summary>The API path of a login's rules: <c>acl/username/U</c>, <c>acl/clientid/C</c> or <c>acl/$all</c>.</summary>
    private static string LoginPath(ParseResult parse, (Option<string?> Username, Option<string?> ClientId, Option<bool> All) who) =>
        parse.GetValue(who.Username) is { } u ? $"api/v4/acl/username/{ManagementClient.Segment(u)}"
        : parse.GetValue(who.ClientId) is { } c ? $"api/v4/acl/clientid/{ManagementClient.Segment(c)}"
        : "api/v4/acl/$all";

    private static Command RuleAdd()
    {
        var topic = new Argument<string>("topic") { Description = "A topic filter; %u and %c stand for the client's user name and client id" };
        var action = new Argument<string>("action") { Description = "pub, sub or pubsub" }.AcceptOnlyFromAmong("pub", "sub", "pubsub");
        var access = new Argument<string>("access") { Description = "allow or deny" }.AcceptOnlyFromAmong("allow", "deny");
        var command = new Command("add", "Add a rule after the login's others (the same login, topic and action replaces it in place); connected clients follow it from their next publish or subscribe")
        {
            topic, action, access,
        };
        var who = Who(command, required: true);
        CtlCommands.SetAction(command, async (ctl, parse, ct) =>
        {
            var body = Json(json =>
            {
                if (parse.GetValue(who.Username) is { } u)
                    json.WriteString("username", u);
                if (parse.GetValue(who.ClientId) is { } c)
                    json.WriteString("clientid", c);
                json.WriteString("topic", parse.GetValue(topic));
                json.WriteString("action", parse.GetValue(action));
                json.WriteString("access", parse.GetValue(access));
            });
            using var answer = await CallAsync(() => ctl.Client.PostAsync("api/v4/acl", body, ct)).ConfigureAwait(false);
            if (!ctl.PrintedJson(answer))
                TextTable.Write(ctl.Out, RuleColumns, ArrayOf(answer.RootElement.GetProperty("data")));
        });
        return command;
    }

    private static Command RuleDelete()
    {
        var topic = new Argument<string?>("topic") { Description = "Only the rules for this topic filter; without it, every rule of the login", Arity = ArgumentArity.ZeroOrOne };
        var command = new Command("del", "Delete a login's rules for a topic, or all of them; exit 1 if there is none") { topic };
        var who = Who(command, required: true);
        CtlCommands.SetAction(command, async (ctl, parse, ct) =>
        {
            var path = LoginPath(parse, who) + (parse.GetValue(topic) is { } t ? $"/topic/{ManagementClient.Segment(t)}" : "");
            using var answer = await CallAsync(() => ctl.Client.DeleteAsync(path, ct)).ConfigureAwait(false);
            if (!ctl.PrintedJson(answer))
                ctl.Out.WriteLine("Deleted");
        });
        return command;
    }

    private static Command RuleList()
    {
        var command = new Command("list", "List the rules (every rule, or one login's), in the order they are judged for that login");
        var who = Who(command, required: false);
        CtlCommands.SetAction(command, async (ctl, parse, ct) =>
        {
            var all = parse.GetValue(who.Username) is null && parse.GetValue(who.ClientId) is null && !parse.GetValue(who.All);
            using var answer = await CallAsync(() => ctl.Client.GetAsync(all ? "api/v4/acl" : LoginPath(parse, who), ct)).ConfigureAwait(false);
            if (ctl.PrintedJson(answer))
                return;
            TextTable.Write(ctl.Out, RuleColumns, answer.RootElement.GetProperty("data"));
            ctl.Out.WriteLine(TextTable.Count(answer.RootElement, "rule"));
        });
        return command;
    }

    /// <summary>One API call; a path the API does not know means the plugin is not loaded.</summary>
    private static Task<JsonDocument> CallAsync(Func<Task<JsonDocument>> call) => ManagementClient.OfPluginAsync("auth_builtin", call);

    private static string ReadPassword() =>
        Console.In.ReadLine() is { Length: > 0 } line ? line : throw new CtlException("no password: give --password or write it to stdin (echo secret | ctl users add alice)");

    private static JsonElement ArrayOf(JsonElement data)
    {
        if (data.ValueKind == JsonValueKind.Array)
            return data;
        using var document = JsonDocument.Parse("[" + data.GetRawText() + "]");
        return document.RootElement.Clone();
    }

    private static string Json(Action<Utf8JsonWriter> write) => ManagementClient.JsonObject(write);
}
