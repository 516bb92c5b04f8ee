using System.CommandLine;

namespace Broker.Ctl;

/// <summary><c>ctl status</c>: is the broker running? (EMQX's <c>emqx_ctl status</c>.)</summary>
internal static class StatusCommand
{
    public static Command Build()
    {
        var command = new Command("status", "Say whether the broker is running, with its node name, version and uptime; exit 1 when it is not running");
        CtlCommands.SetAction(command, async (ctl, _, ct) =>
        {
            using var answer = await ctl.Client.GetAsync("api/v4/brokers", ct).ConfigureAwait(false);
            if (ctl.PrintedJson(answer))
                return;
            var broker = answer.RootElement.GetProperty("data")[0];
            ctl.Out.WriteLine($"Broker {TextTable.Text(broker, "node")} {TextTable.Text(broker, "version")} is running, uptime {TextTable.Text(broker, "uptime")}");
        });
        return command;
    }
}
