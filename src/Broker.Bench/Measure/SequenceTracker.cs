namespace Broker.Bench.Measure;

/// <summary>
/// What one receiver saw of one publisher's sequence numbers (0, 1, 2, ...): a growable bitmap of the numbers
/// seen, so a repeat is a duplicate and a number below the highest seen is out of order; whatever the publisher sent
/// and is not in the bitmap at the end is lost. The bitmap grows by doubling (1 bit per message), never per message.
/// </summary>
internal sealed class SequenceTracker
{
    private ulong[] _seen = new ulong[64];
    private long _highest = -1;

    public long Unique { get; private set; }

    public long Duplicates { get; private set; }

    public long OutOfOrder { get; private set; }

    /// <summary>Records <paramref name="sequence"/>; returns false for a duplicate.</summary>
    public bool Record(long sequence)
    {
        if (sequence < 0)
            return false;
        var word = (int)(sequence >> 6);
        if (word >= _seen.Length)
            Array.Resize(ref _seen, Math.Max(_seen.Length * 2, word + 1));
        var bit = 1UL << (int)(sequence & 63);
        if ((_seen[word] & bit) != 0)
        {
            Duplicates++;
            return false;
        }
        _seen[word] |= bit;
        Unique++;
        if (sequence < _highest)
            OutOfOrder++;
        else
            _highest = sequence;
        return true;
    }
}
