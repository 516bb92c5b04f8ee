using System.Security.Cryptography;
using Broker.Core.AccessControl;
using Xunit;

namespace Broker.Core.Tests.AccessControl;

public sealed class PasswordHasherTests
{
    [Fact]
    public async Task HashAsync_ComputesPbkdf2Sha512()
    {
        using var hasher = new PasswordHasher(concurrency: 1);
        var salt = RandomNumberGenerator.GetBytes(16);

        var hash = await hasher.HashAsync("pw"u8.ToArray(), salt, 1000, 64, CancellationToken.None);

        Assert.Equal(Rfc2898DeriveBytes.Pbkdf2("pw"u8.ToArray(), salt, 1000, HashAlgorithmName.SHA512, 64), hash);
        Assert.Equal(1, hasher.Computations);
    }

    [Fact]
    public async Task HashAsync_CancelledBeforeItsTurn_IsSkipped()
    {
        using var hasher = new PasswordHasher(concurrency: 1);
        // Keep the only thread busy, then queue a job whose caller gives up.
        var busy = hasher.HashAsync("pw"u8.ToArray(), new byte[16], 200_000, 64, CancellationToken.None);
        using var gaveUp = new CancellationTokenSource();
        var skipped = hasher.HashAsync("pw"u8.ToArray(), new byte[16], 200_000, 64, gaveUp.Token);
        gaveUp.Cancel();

        await busy;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => skipped);
        Assert.Equal(1, hasher.Computations);
        Assert.Equal(1, hasher.Skipped);
    }

    [Fact]
    public async Task Dispose_CancelsWhatIsStillQueued()
    {
        var hasher = new PasswordHasher(concurrency: 1);
        var busy = hasher.HashAsync("pw"u8.ToArray(), new byte[16], 200_000, 64, CancellationToken.None);
        var queued = hasher.HashAsync("pw"u8.ToArray(), new byte[16], 200_000, 64, CancellationToken.None);

        hasher.Dispose();

        // The first may have started (and finishes) or not (and is cancelled); the second never runs.
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => queued);
        Assert.True(busy.IsCompleted);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => hasher.HashAsync("pw"u8.ToArray(), new byte[16], 1, 64, CancellationToken.None));
    }
}
