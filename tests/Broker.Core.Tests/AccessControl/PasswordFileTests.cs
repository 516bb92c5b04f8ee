using System.Text;
using Broker.Core.AccessControl;
using Xunit;

namespace Broker.Core.Tests.AccessControl;

public sealed class PasswordFileTests : IDisposable
{
    // The format and code path are the same at any count.
    private const int Iterations = 1000;

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s);

    [Fact]
    public void Verify_RightPassword_ReturnsTrue()
    {
        var file = new PasswordFile(Iterations);
        file.Set("alice", "s3cret");

        Assert.True(file.Verify("alice", Utf8("s3cret")));
    }

    [Fact]
    public void Verify_WrongPassword_ReturnsFalse()
    {
        var file = new PasswordFile(Iterations);
        file.Set("alice", "s3cret");

        Assert.False(file.Verify("alice", Utf8("s3cre")));
        Assert.False(file.Verify("alice", Utf8("")));
        Assert.False(file.Verify("Alice", Utf8("s3cret")));
    }

    [Fact]
    public async Task Verify_UnknownUser_AnsweredInAHashsTimeWithoutComputingOne()
    {
        using var hasher = new PasswordHasher(concurrency: 1);
        var file = new PasswordFile(100_000);
        file.Set("alice", "s3cret");
        var simulated = hasher.Simulations;

        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        Assert.False(await file.VerifyAsync("mallory", Utf8("s3cret"), hasher, CancellationToken.None));
        var elapsed = System.Diagnostics.Stopwatch.GetElapsedTime(started);

        Assert.Equal(0, file.HashComputations);
        Assert.Equal(simulated + 1, hasher.Simulations);
        // No sooner than the hash a known user costs (as this machine measures it), so timing tells no names.
        Assert.True(elapsed >= hasher.EstimateHashTime(100_000) * 0.9, $"{elapsed} < {hasher.EstimateHashTime(100_000)}");
    }

    [Fact]
    public void Set_SamePasswordTwice_UsesFreshSaltInDocumentedFormat()
    {
        var file = new PasswordFile(Iterations);
        file.Set("alice", "same");
        file.Set("bob", "same");
        var path = _dir.File("passwd");
        file.Save(path);

        var lines = File.ReadAllLines(path);
        Assert.Equal(2, lines.Length);
        var alice = lines[0].Split(':')[1].Split('$');
        var bob = lines[1].Split(':')[1].Split('$');
        Assert.Equal(["", "pbkdf2-sha512", "1000"], alice[..3]);
        Assert.Equal(16, Convert.FromBase64String(alice[3]).Length);
        Assert.Equal(64, Convert.FromBase64String(alice[4]).Length);
        Assert.NotEqual(alice[3], bob[3]);
        Assert.NotEqual(alice[4], bob[4]);
    }

    [Fact]
    public void Set_DefaultIterations_WritesPasswordHashIterationsDefaultAndVerifies()
    {
        var file = new PasswordFile();
        file.Set("alice", "a");
        var path = _dir.File("passwd");
        file.Save(path);

        Assert.Contains($":$pbkdf2-sha512${PasswordFile.DefaultIterations}$", File.ReadAllText(path));
        Assert.Equal(PasswordFile.DefaultIterations, new Configuration.AccessControlOptions().PasswordHashIterations);
        Assert.True(file.Verify("alice", Utf8("a")));
        Assert.Equal(1, file.HashComputations);
    }

    [Fact]
    public void Load_ShippedExample_HasNoUsers()
    {
        var file = PasswordFile.Load(Path.Combine(Repository.Root, "etc", "passwd.example"));

        Assert.Empty(file.Users);
    }

    [Fact]
    public void SaveThenLoad_RoundTrip_KeepsUsersOrderAndComments()
    {
        var path = _dir.File("passwd");
        File.WriteAllText(path, "# operators\n\n");
        var file = PasswordFile.Load(path, Iterations);
        file.Set("carol", "c");
        file.Set("alice", "a");
        file.Set("bob", "b");
        file.Save(path);

        var loaded = PasswordFile.Load(path, Iterations);

        Assert.Equal(["carol", "alice", "bob"], loaded.Users);
        Assert.True(loaded.Verify("alice", Utf8("a")));
        Assert.True(loaded.Verify("bob", Utf8("b")));
        Assert.False(loaded.Verify("bob", Utf8("a")));
        Assert.StartsWith("# operators\n\ncarol:$pbkdf2-sha512$", File.ReadAllText(path));
    }

    [Fact]
    public void Save_Always_WritesMode0600AndLeavesNoTemporaryFile()
    {
        if (OperatingSystem.IsWindows())
        {
            Assert.Skip("Unix file modes");
            return;
        }
        var path = _dir.File("passwd");
        var file = new PasswordFile(Iterations);
        file.Set("alice", "a");
        file.Save(path);
        file.Save(path);

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        Assert.Equal([path], Directory.GetFiles(_dir.Path));
    }

    [Fact]
    public void Load_MissingFile_IsEmpty()
    {
        var file = PasswordFile.Load(_dir.File("nope"), Iterations);

        Assert.Empty(file.Users);
        Assert.False(file.Contains("alice"));
        Assert.False(file.Verify("alice", Utf8("x")));
    }

    [Fact]
    public void Load_CrLfAndSurroundingSpace_Accepted()
    {
        var source = new PasswordFile(Iterations);
        source.Set("alice", "a");
        var path = _dir.File("passwd");
        source.Save(path);
        File.WriteAllText(path, "# c\r\n  " + File.ReadAllText(path).TrimEnd() + "  \r\n");

        Assert.True(PasswordFile.Load(path, Iterations).Verify("alice", Utf8("a")));
    }

    [Theory]
    [InlineData("alice", "expected username:hash")]
    [InlineData(":$pbkdf2-sha512$1000$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAA==", "user name is empty")]
    [InlineData("alice:plaintext", "expected $pbkdf2-sha512$")]
    [InlineData("alice:$md5$1000$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAA==", "unknown scheme 'md5'")]
    [InlineData("alice:$pbkdf2-sha512$many$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAA==", "iterations 'many'")]
    [InlineData("alice:$pbkdf2-sha512$0$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAA==", "iterations '0'")]
    [InlineData("alice:$pbkdf2-sha512$1000$not base64!$AAAAAAAAAAAAAAAAAAAAAA==", "not valid base64")]
    [InlineData("alice:$pbkdf2-sha512$1000$AAAAAAAAAAAAAAAAAAAAAA==$AAAA", "the hash is 3 bytes")]
    public void Load_MalformedLine_ThrowsNamingFileLineAndProblem(string line, string problem)
    {
        var path = _dir.File("passwd");
        File.WriteAllText(path, $"# users\n\n{line}\n");

        var e = Assert.Throws<AccessFileException>(() => PasswordFile.Load(path, Iterations));

        Assert.Equal(3, e.Line);
        Assert.StartsWith($"{path}:3: ", e.Message);
        Assert.Contains(problem, e.Message);
    }

    [Fact]
    public void Load_DuplicateUser_ThrowsNamingBothLines()
    {
        var source = new PasswordFile(Iterations);
        source.Set("alice", "a");
        var path = _dir.File("passwd");
        source.Save(path);
        var line = File.ReadAllText(path);
        File.WriteAllText(path, line + "# again\n" + line);

        var e = Assert.Throws<AccessFileException>(() => PasswordFile.Load(path, Iterations));

        Assert.Equal(3, e.Line);
        Assert.Contains("already defined on line 1", e.Message);
    }

    [Theory]
    [InlineData("")]
    [InlineData("a:b")]
    [InlineData(" alice")]
    [InlineData("#alice")]
    [InlineData("al\nice")]
    public void Set_UnwritableUserName_Throws(string user)
    {
        Assert.Throws<ArgumentException>(() => new PasswordFile(Iterations).Set(user, "x"));
    }

    [Fact]
    public void Remove_ExistingAndMissing_ReportsWhetherRemoved()
    {
        var file = new PasswordFile(Iterations);
        file.Set("alice", "a");

        Assert.True(file.Remove("alice"));
        Assert.False(file.Remove("alice"));
        Assert.False(file.Verify("alice", Utf8("a")));
        Assert.Empty(file.Users);
    }

    [Fact]
    public void Verify_RepeatedSuccess_ServedFromCacheUntilItExpires()
    {
        var time = new ManualTimeProvider();
        var file = new PasswordFile(Iterations, time);
        file.Set("alice", "a");

        Assert.True(file.Verify("alice", Utf8("a")));
        Assert.True(file.Verify("alice", Utf8("a")));
        Assert.Equal(1, file.HashComputations);

        time.Advance(PasswordFile.CacheLifetime);
        Assert.True(file.Verify("alice", Utf8("a")));
        Assert.Equal(2, file.HashComputations);
    }

    [Fact]
    public void Verify_WrongPasswordAfterCachedSuccess_ComputesOnceThenRemembersTheFailure()
    {
        var file = new PasswordFile(Iterations);
        file.Set("alice", "a");
        Assert.True(file.Verify("alice", Utf8("a")));

        Assert.False(file.Verify("alice", Utf8("b")));
        Assert.False(file.Verify("alice", Utf8("b")));
        Assert.Equal(2, file.HashComputations);
        // A new guess is a new hash.
        Assert.False(file.Verify("alice", Utf8("c")));
        Assert.Equal(3, file.HashComputations);
    }

    [Fact]
    public void Verify_RememberedFailure_ForgottenWhenThePasswordIsSetOrTheUserAdded()
    {
        var file = new PasswordFile(Iterations);
        file.Set("alice", "a");
        Assert.False(file.Verify("alice", Utf8("b")));
        Assert.False(file.Verify("bob", Utf8("b")));

        file.Set("alice", "b");
        file.Set("bob", "b");

        Assert.True(file.Verify("alice", Utf8("b")));
        Assert.True(file.Verify("bob", Utf8("b")));
    }

    [Fact]
    public void Verify_RememberedFailure_ExpiresWithTheCache()
    {
        var time = new ManualTimeProvider();
        var file = new PasswordFile(Iterations, time);
        file.Set("alice", "a");
        Assert.False(file.Verify("alice", Utf8("b")));
        Assert.False(file.Verify("alice", Utf8("b")));
        Assert.Equal(1, file.HashComputations);

        time.Advance(PasswordFile.CacheLifetime);
        Assert.False(file.Verify("alice", Utf8("b")));
        Assert.Equal(2, file.HashComputations);
    }

    [Fact]
    public void Verify_AfterSetOrRemove_CacheInvalidated()
    {
        var file = new PasswordFile(Iterations);
        file.Set("alice", "old");
        Assert.True(file.Verify("alice", Utf8("old")));

        file.Set("alice", "new");
        Assert.False(file.Verify("alice", Utf8("old")));
        Assert.True(file.Verify("alice", Utf8("new")));

        file.Remove("alice");
        Assert.False(file.Verify("alice", Utf8("new")));
    }
}
