using System.CommandLine;

namespace Broker.Ctl;

/// <summary><c>ctl acl reload</c> (EMQX's <c>emqx_ctl acl reload</c>).</summary>
internal static class AclCommands
{
    public static Command Build() => new("acl", "Manage the built-in access control (etc/acl.conf and the password file)")
    {
        Reload(),
    };

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
