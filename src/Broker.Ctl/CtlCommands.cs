using System.CommandLine;
using System.Text.Json;

namespace Broker.Ctl;

/// <summary>
/// The command tree. Every command group lives in its own file (<c>Commands/*.cs</c>) and adds itself here; a
/// command's action gets a <see cref="CtlContext"/> (a connected <see cref="ManagementClient"/> and the output
/// mode) through <see cref="SetAction"/>, which turns every <see cref="CtlException"/> into one line on stderr and
/// exit code 1. A new group (e.g. <c>plugins</c>) is one more file and one more line in <see cref="BuildRoot"/>.
/// </summary>
internal static class CtlCommands
{
    public static readonly Option<string?> Home = new("--home")
    {
        Description = "Broker home holding etc/broker.conf and data/management.secret, read for the API address and credentials [default: $BROKER_HOME or the current directory]",
        Recursive = true,
        HelpName = "DIR",
    };

    public static readonly Option<string?> Url = new("--url")
    {
        Description = "Management API address, e.g. http://127.0.0.1:8081 [default: $BROKER_CTL_URL, else management.listener of broker.conf]",
        Recursive = true,
        HelpName = "URL",
    };

    public static readonly Option<string?> User = new("--user")
    {
        Description = "Application id [default: $BROKER_CTL_USER, else management.default_application.id, else admin]",
        Recursive = true,
        HelpName = "ID",
    };

    public static readonly Option<string?> Secret = new("--secret")
    {
        Description = "Application secret [default: $BROKER_CTL_SECRET, else management.default_application.secret, else data/management.secret]",
        Recursive = true,
        HelpName = "SECRET",
    };

    public static readonly Option<bool> Json = new("--json")
    {
        Description = "Print the API's JSON answer ({\"code\":0,\"data\":...}) instead of a table, for scripts",
        Recursive = true,
    };

    public static RootCommand BuildRoot()
    {
        var root = new RootCommand("""
            Control a running broker through its management HTTP API (loopback 127.0.0.1:8081 by default).
            Exit codes: 0 done, 1 failed (broker not running, refused credentials, unknown client, ...), 2 bad usage.
            """)
        {
            Home, Url, User, Secret, Json,
        };
        root.Add(StatusCommand.Build());
        root.Add(BrokerCommands.Build());
        root.Add(ClientsCommands.Build());
        root.Add(SubscriptionsCommands.Build());
        root.Add(RoutesCommands.Build());
        root.Add(ClusterCommands.Build());
        root.Add(AclCommands.Build());
        root.Add(TraceCommands.Build());
        root.Add(AlarmsCommands.Build());
        root.Add(BannedCommands.Build());
        root.Add(PluginsCommands.Build());
        root.Add(ListenersCommands.Build());
        root.Add(AdminsCommands.Build());
        root.Add(AuthBuiltinCommands.Users(clientIds: false));
        root.Add(AuthBuiltinCommands.Users(clientIds: true));
        return root;
    }

    /// <summary>Runs <paramref name="action"/> with a client for the resolved API; reports failures on stderr.</summary>
    public static void SetAction(Command command, Func<CtlContext, ParseResult, CancellationToken, Task> action) =>
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            try
            {
                var connection = CtlConnection.Resolve(
                    parseResult.GetValue(Home), parseResult.GetValue(Url), parseResult.GetValue(User), parseResult.GetValue(Secret),
                    Environment.GetEnvironmentVariable);
                using var client = new ManagementClient(connection);
                var context = new CtlContext(client, connection, parseResult.GetValue(Json), Console.Out);
                await action(context, parseResult, cancellationToken).ConfigureAwait(false);
                return 0;
            }
            catch (CtlException ex)
            {
                await Console.Error.WriteLineAsync(ex.Message).ConfigureAwait(false);
                return ex.ExitCode;
            }
        });
}

/// <summary>What a command's action works with.</summary>
internal sealed record CtlContext(ManagementClient Client, CtlConnection Connection, bool Json, TextWriter Out)
{
    /// <summary>With <c>--json</c>, prints the answer as the API sent it and returns true.</summary>
    public bool PrintedJson(JsonDocument answer)
    {
        if (!Json)
            return false;
        Out.WriteLine(JsonSerializer.Serialize(answer.RootElement, CtlJsonContext.Default.JsonElement));
        return true;
    }
}
