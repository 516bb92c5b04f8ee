using Broker.Core.AccessControl;
using Broker.Server;
using Broker.Server.Commands;
using Broker.Configuration;

// broker [--home DIR] [--etc DIR] [--data DIR]     start the broker
// broker passwd [-f FILE] add|delete|list ...       manage the password file
// broker conf-defaults                              print a broker.conf with every key and its default
string? home = Environment.GetEnvironmentVariable("BROKER_HOME"), etc = null, data = null;
var rest = new List<string>();
for (var i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--home" when i + 1 < args.Length:
            home = args[++i];
            break;
        case "--etc" when i + 1 < args.Length:
            etc = args[++i];
            break;
        case "--data" when i + 1 < args.Length:
            data = args[++i];
            break;
        case "-h" or "--help":
            Console.Out.WriteLine(Usage);
            return 0;
        default:
            rest.Add(args[i]);
            break;
    }
}
home ??= Directory.GetCurrentDirectory();

if (rest is ["passwd", ..])
{
    // The file and iteration count broker.conf names (password_file, password_hash_iterations).
    if (LoadSettings("broker passwd: configuration error:") is not { } passwdSettings)
        return 2;
    return PasswdCommand.Run([.. rest.Skip(1)], Console.In, Console.Out, Console.Error,
        passwdSettings.ResolveEtcPath(passwdSettings.Core.PasswordFile), passwdSettings.Core.PasswordHashIterations);
}
if (rest is ["conf-defaults"])
{
    Console.Out.Write(ConfDocs.Render(BrokerSettings.OptionsTypes));
    return 0;
}
if (rest.Count > 0)
{
    Console.Error.WriteLine($"broker: unknown argument '{rest[0]}'\n\n{Usage}");
    return 2;
}

if (LoadSettings("broker: configuration error, not starting:") is not { } settings)
    return 2;
return await BrokerHost.RunAsync(settings);

// broker.conf and BROKER_* as the broker reads them; null after printing every problem under the heading.
BrokerSettings? LoadSettings(string heading)
{
    try
    {
        return BrokerSettings.Load(home, etc, data);
    }
    catch (ConfigurationException ex)
    {
        Console.Error.WriteLine(heading);
        Console.Error.WriteLine(ex.Message);
        return null;
    }
}

internal static partial class Program
{
    private const string Usage = """
        Usage:
          broker [--home DIR] [--etc DIR] [--data DIR]
              Start the broker. DIR defaults: home = $BROKER_HOME or the current directory,
              etc = <home>/etc (broker.conf, acl.conf, passwd), data = <home>/data.
              Any key of etc/broker.conf can be overridden by an environment variable:
              BROKER_ + the key upper-cased with '.' as '__', e.g. BROKER_LISTENER__TCP__EXTERNAL=0.0.0.0:1884.
          broker passwd [-f FILE] add USER [-p PASSWORD]   (no -p: the password is read from stdin)
          broker passwd [-f FILE] delete USER
          broker passwd [-f FILE] list
              Manage the password file (default <etc>/passwd).
          broker conf-defaults
              Print a broker.conf that lists every key with its description and default.
        """;
}
