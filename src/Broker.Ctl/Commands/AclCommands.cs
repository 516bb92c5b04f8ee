using System.CommandLine;

namespace Broker.Ctl;

/// <summary><c>ctl acl reload</c> (EMQX's <c>emqx_ctl acl reload</c>), <c>ctl acl cache clean</c>, and auth_builtin's <c>ctl acl rules</c>.</summary>
internal static class AclCommands
{
    public static Command Build() => new("acl", "Manage the built-in access control (etc/acl.conf and the password file)")
    {
        Reload(),
        new Command("cache", "The connections' authorization caches (enable_acl_cache)") { CacheClean() },
        AuthBuiltinCommands.Rules(),
    };

    private static Command CacheClean()
    {
        var id = new Argument<string?>("clientid") { Description = "Only this client's cache; without it, every connection's", Arity = ArgumentArity.ZeroOrOne };
        var command = new Command("clean", "Forget cached authorization decisions, e.g. after changing an authorization backend's rules") { id };
        CtlCommands.SetAction(command, async (ctl, parse, ct) =>
        {
            var clientId = parse.GetValue(id);
            var path = clientId is null ? "api/v4/acl_cache" : $"api/v4/clients/{Uri.EscapeDataString(clientId)}/acl_cache";
            using var answer = await ctl.Client.DeleteAsync(path, ct).ConfigureAwait(false);
            if (!ctl.PrintedJson(answer))
                ctl.Out.WriteLine(clientId is null ? "Cleaned every connection's ACL cache" : $"Cleaned the ACL cache of {clientId}");
        });
        return command;
    }

    private static Command Reload()
    {
        var command = new Command("reload", "Read acl.conf and the password file again and use them for new decisions, without a restart; when a file has an error, exit 1 naming file:line and keep the previous rules");
        CtlCommands.SetAction(command, async (ctl, _, ct) =>
        {
            using var answer = await ctl.Client.PutAsync("api/v4/acl/reload", null, ct).ConfigureAwait(false);
            if (ctl.PrintedJson(answer))
                return;
            var data = answer.RootElement.GetProperty("data");
            ctl.Out.WriteLine($"Reloaded {TextTable.Text(data, "rules")} ACL rule(s) from {TextTable.Text(data, "acl_file")} and {TextTable.Text(data, "users")} user(s) from {TextTable.Text(data, "password_file")}");
        });
        return command;
    }
}
