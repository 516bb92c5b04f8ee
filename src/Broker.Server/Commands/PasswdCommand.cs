using Broker.Core.AccessControl;

namespace Broker.Server.Commands;

/// <summary>
/// <c>broker passwd</c>: the operator's tool for the password file, in the spirit of <c>mosquitto_passwd</c>.
/// The broker re-reads the file on reload; changes made here do not reach a running broker before that.
/// </summary>
internal static class PasswdCommand
{
    private const string Usage =
        """
        usage: broker passwd [-f FILE] add USER [-p PASSWORD]
               broker passwd [-f FILE] delete USER
               broker passwd [-f FILE] list

          -f, --file FILE          the password file (default: {0})
          -p, --password PASSWORD  the password; without it one line is read from standard input,
                                   e.g. `echo secret | broker passwd add alice`. Prefer stdin: a
                                   password on the command line is visible to other local users.

        The default file and the PBKDF2 iterations of new hashes come from broker.conf
        (password_file, password_hash_iterations).
        """;

    /// <summary>Runs the command; returns the process exit code (0 success, 1 failure, 2 usage error).</summary>
    /// <param name="args">The arguments after <c>passwd</c> (a leading <c>passwd</c> is skipped too).</param>
    /// <param name="stdin">Where a password is read from when <c>-p</c> is absent.</param>
    /// <param name="stdout">Normal output.</param>
    /// <param name="stderr">Errors.</param>
    /// <param name="defaultFile">The password file when <c>-f</c> is absent (the broker passes its configured one).</param>
    /// <param name="iterations">PBKDF2 iterations for new hashes (<c>password_hash_iterations</c>; tests pass a small number).</param>
    public static int Run(string[] args, TextReader stdin, TextWriter stdout, TextWriter stderr, string defaultFile,
        int iterations = PasswordFile.DefaultIterations)
    {
        var file = defaultFile;
        string? password = null;
        var positional = new List<string>();
        var start = args.Length > 0 && args[0] == "passwd" ? 1 : 0;
        for (var i = start; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "-h" or "--help":
                    stdout.WriteLine(string.Format(System.Globalization.CultureInfo.InvariantCulture, Usage, defaultFile));
                    return 0;
                case "-f" or "--file" or "-p" or "--password" when i + 1 >= args.Length:
                    return UsageError(stderr, defaultFile, $"{args[i]} needs a value");
                case "-f" or "--file":
                    file = args[++i];
                    break;
                case "-p" or "--password":
                    password = args[++i];
                    break;
                case ['-', _, ..]:
                    return UsageError(stderr, defaultFile, $"unknown option {args[i]}");
                default:
                    positional.Add(args[i]);
                    break;
            }
        }

        if (positional.Count == 0)
            return UsageError(stderr, defaultFile, "missing command (add, delete or list)");
        var command = positional[0];
        var expected = command switch { "add" or "delete" => 2, "list" => 1, _ => -1 };
        if (expected < 0)
            return UsageError(stderr, defaultFile, $"unknown command '{command}'");
        if (positional.Count != expected)
            return UsageError(stderr, defaultFile, expected == 1 ? "list takes no arguments" : $"{command} takes exactly one USER");
        if (password is not null && command != "add")
            return UsageError(stderr, defaultFile, "-p is only for add");

        PasswordFile passwords;
        try
        {
            passwords = PasswordFile.Load(file, iterations);
        }
        catch (AccessFileException e)
        {
            stderr.WriteLine($"error: {e.Message}");
            return 1;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            stderr.WriteLine($"error: cannot read {file}: {e.Message}");
            return 1;
        }

        switch (command)
        {
            case "list":
                foreach (var user in passwords.Users)
                    stdout.WriteLine(user);
                return 0;

            case "add":
            {
                var user = positional[1];
                if (PasswordFile.ValidateUserName(user) is { } problem)
                {
                    stderr.WriteLine($"error: {problem}");
                    return 1;
                }
                password ??= stdin.ReadLine();
                if (password is null)
                {
                    stderr.WriteLine("error: no password given: pass -p PASSWORD or one line on standard input");
                    return 1;
                }
                if (password.Length == 0)
                {
                    stderr.WriteLine("error: the password is empty");
                    return 1;
                }
                var existed = passwords.Contains(user);
                passwords.Set(user, password);
                if (!TrySave(passwords, file, stderr))
                    return 1;
                stdout.WriteLine(existed ? $"changed the password of {user} in {file}" : $"added {user} to {file}");
                return 0;
            }

            default: // delete
            {
                var user = positional[1];
                if (!passwords.Remove(user))
                {
                    stderr.WriteLine($"error: no user '{user}' in {file}");
                    return 1;
                }
                if (!TrySave(passwords, file, stderr))
                    return 1;
                stdout.WriteLine($"deleted {user} from {file}");
                return 0;
            }
        }
    }

    private static bool TrySave(PasswordFile passwords, string file, TextWriter stderr)
    {
        try
        {
            passwords.Save(file);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            stderr.WriteLine($"error: cannot write {file}: {e.Message}");
            return false;
        }
    }

    private static int UsageError(TextWriter stderr, string defaultFile, string message)
    {
        stderr.WriteLine($"error: {message}");
        stderr.WriteLine(string.Format(System.Globalization.CultureInfo.InvariantCulture, Usage, defaultFile));
        return 2;
    }
}
