using System.Text;
using Broker.Core.AccessControl;
using Broker.Server.Commands;
using Broker.Server.Tests.Configuration;
using Xunit;

namespace Broker.Server.Tests.Commands;

public sealed class PasswdCommandTests : IDisposable
{
    private const int Iterations = 1000;

    private readonly TempConf _dir = new();
    private readonly StringWriter _stdout = new();
    private readonly StringWriter _stderr = new();

    private static readonly PasswordHasher Hasher = new(concurrency: 1);

    public void Dispose() => _dir.Dispose();

    private string DefaultFile => _dir.PathOf("passwd");

    private int Run(string stdin, params string[] args) =>
        PasswdCommand.Run(args, new StringReader(stdin), _stdout, _stderr, DefaultFile, Iterations);

    private static bool Verify(string path, string user, string password) =>
        PasswordFile.Load(path, Iterations).VerifyAsync(user, Encoding.UTF8.GetBytes(password), Hasher, CancellationToken.None).AsTask().GetAwaiter().GetResult();

    [Fact]
    public void Run_AddWithPasswordOnStdin_AddsUser()
    {
        var exit = Run("secret\n", "add", "alice");

        Assert.Equal(0, exit);
        Assert.True(Verify(DefaultFile, "alice", "secret"));
        Assert.Contains("added alice", _stdout.ToString());
        Assert.Empty(_stderr.ToString());
    }

    [Fact]
    public void Run_AddWithLeadingPasswdWord_AddsUser()
    {
        Assert.Equal(0, Run("secret\r\n", "passwd", "add", "alice"));
        Assert.True(Verify(DefaultFile, "alice", "secret"));
    }

    [Fact]
    public void Run_AddWithDashP_UsesItAndIgnoresStdin()
    {
        Assert.Equal(0, Run("other\n", "add", "alice", "-p", "secret"));
        Assert.True(Verify(DefaultFile, "alice", "secret"));
    }

    [Fact]
    public void Run_AddExistingUser_ChangesPassword()
    {
        Run("one\n", "add", "alice");

        Assert.Equal(0, Run("two\n", "add", "alice"));
        Assert.False(Verify(DefaultFile, "alice", "one"));
        Assert.True(Verify(DefaultFile, "alice", "two"));
        Assert.Contains("changed the password of alice", _stdout.ToString());
    }

    [Fact]
    public void Run_ListAfterAdds_PrintsUsersInFileOrder()
    {
        Run("b\n", "add", "bob");
        Run("a\n", "add", "alice");
        _stdout.GetStringBuilder().Clear();

        Assert.Equal(0, Run("", "list"));
        Assert.Equal($"bob{Environment.NewLine}alice{Environment.NewLine}", _stdout.ToString());
    }

    [Fact]
    public void Run_Delete_RemovesUser()
    {
        Run("b\n", "add", "bob");
        Run("a\n", "add", "alice");

        Assert.Equal(0, Run("", "delete", "bob"));
        Assert.Equal(["alice"], PasswordFile.Load(DefaultFile, Iterations).Users);
    }

    [Fact]
    public void Run_DeleteUnknownUser_FailsNamingUser()
    {
        Run("a\n", "add", "alice");

        Assert.Equal(1, Run("", "delete", "bob"));
        Assert.Contains("no user 'bob'", _stderr.ToString());
    }

    [Fact]
    public void Run_DashF_UsesThatFile()
    {
        var other = _dir.PathOf("other");

        Assert.Equal(0, Run("x\n", "-f", other, "add", "alice"));
        Assert.True(Verify(other, "alice", "x"));
        Assert.False(File.Exists(DefaultFile));
    }

    [Theory]
    [InlineData("")]
    [InlineData("\n")]
    public void Run_AddWithoutPassword_Fails(string stdin)
    {
        Assert.Equal(1, Run(stdin, "add", "alice"));
        Assert.StartsWith("error: ", _stderr.ToString());
        Assert.False(File.Exists(DefaultFile));
    }

    [Fact]
    public void Run_AddBadUserName_Fails()
    {
        Assert.Equal(1, Run("x\n", "add", "a:b"));
        Assert.Contains("contains ':'", _stderr.ToString());
    }

    [Theory]
    [InlineData(new string[0], "missing command")]
    [InlineData(new[] { "frob" }, "unknown command 'frob'")]
    [InlineData(new[] { "add" }, "exactly one USER")]
    [InlineData(new[] { "list", "x" }, "list takes no arguments")]
    [InlineData(new[] { "delete", "a", "-p", "x" }, "-p is only for add")]
    [InlineData(new[] { "list", "-f" }, "-f needs a value")]
    [InlineData(new[] { "--bogus", "list" }, "unknown option --bogus")]
    public void Run_BadUsage_ExitsTwoWithUsage(string[] args, string message)
    {
        Assert.Equal(2, Run("", args));
        Assert.Contains(message, _stderr.ToString());
        Assert.Contains("usage: broker passwd", _stderr.ToString());
    }

    [Fact]
    public void Run_Help_PrintsUsageWithDefaultFile()
    {
        Assert.Equal(0, Run("", "--help"));
        Assert.Contains(DefaultFile, _stdout.ToString());
    }

    [Fact]
    public void Run_MalformedFile_ReportsFileAndLine()
    {
        File.WriteAllText(DefaultFile, "# x\nalice\n");

        Assert.Equal(1, Run("", "list"));
        Assert.Contains($"{DefaultFile}:2: expected username:hash", _stderr.ToString());
    }
}
